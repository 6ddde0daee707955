"""Oryx runner service."""
