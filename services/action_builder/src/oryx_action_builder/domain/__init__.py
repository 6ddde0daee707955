"""The builder's rules: a build's life, and one build at a time. Standard library only."""
