"""messaging adapters."""
