"""PostgreSQL persistence."""
