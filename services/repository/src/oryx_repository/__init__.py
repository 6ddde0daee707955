"""Oryx repository service: Git sources of actions, scans, builds, published actions."""
