"""Adapters: HTTP API, database, messaging, security. Chosen in ``container.py``."""
