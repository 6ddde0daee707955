"""Adapters, chosen in container.py."""
