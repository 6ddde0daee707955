"""Adapters of the repository service, chosen in container.py."""
