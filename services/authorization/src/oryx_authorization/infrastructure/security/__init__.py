"""Password hashing, token generation, clock and ids."""
