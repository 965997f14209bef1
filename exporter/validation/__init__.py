"""Architecture validation: checks of the database, Redis and the probed HTTP components,
answered on ``POST /api/architecture/validate`` and run in the background for metrics."""
