"""Oryx authorization service: users, projects, roles, login, API tokens and permission checks."""
