"""Asking the authorization service whether the caller may act."""
