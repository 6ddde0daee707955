"""PostgreSQL persistence: tables, repositories, unit of work, migrations."""
