"""moments: per-moment video engagement analytics with a Mux-compatible Engagement API."""

__version__ = "0.1.0"
