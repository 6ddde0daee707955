"""security adapters."""
