"""Architecture validation: checks of the database (schema, RLS, a security audit, backups),
Redis, the probed HTTP components and the platform's deployments, answered on
``POST /api/architecture/validate`` and run in the background for metrics."""
