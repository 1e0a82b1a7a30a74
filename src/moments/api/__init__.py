"""The HTTP layer: Mux-compatible engagement endpoints plus moments' own."""
