"""database adapters."""
