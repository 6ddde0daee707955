"""Use cases of the action builder, talking to the outside through ``ports``."""
