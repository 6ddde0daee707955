"""api adapters."""
