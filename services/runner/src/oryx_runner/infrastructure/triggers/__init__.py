"""Adapters of the triggers: cron schedules, fire records, sources' leases, deployed triggers."""
