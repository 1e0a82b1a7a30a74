"""Pure engagement computation: arrays in, arrays out, no I/O."""
