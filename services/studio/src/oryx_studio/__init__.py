"""Oryx studio service."""
