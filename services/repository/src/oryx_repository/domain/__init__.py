"""The repository domain: sources, actions, their format and statuses. Standard library only."""
