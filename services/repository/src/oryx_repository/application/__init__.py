"""Use cases of the repository service."""
