"""Oryx action builder: builds one action at a time into a runnable artifact."""
