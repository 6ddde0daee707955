"""The domain: standard library only."""
