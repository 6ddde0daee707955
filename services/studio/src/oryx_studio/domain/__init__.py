"""The studio's domain: the action library, workflows, project variables. Standard library only."""
