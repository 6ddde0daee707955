"""The oryx command line."""
