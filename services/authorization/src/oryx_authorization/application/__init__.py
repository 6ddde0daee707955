"""Use cases of the authorization service. They talk to the outside only through ports."""
