"""Sites: where actions run."""
