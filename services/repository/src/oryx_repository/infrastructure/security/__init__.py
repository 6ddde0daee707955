"""Clock, ids and secrets."""
