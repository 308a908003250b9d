"""The PostgreSQL warehouse: server resolution, engines, migrations and bulk writes."""
