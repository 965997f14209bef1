"""PostgreSQL access shared by the database probe, queries and validation."""
