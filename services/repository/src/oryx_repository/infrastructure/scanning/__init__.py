"""Reading a checked-out repository: find action folders, validate them, archive one."""
