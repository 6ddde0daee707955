"""Git sources: check out a branch or a commit with the real git program."""
