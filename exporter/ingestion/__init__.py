"""Request-timing ingestion: API timings posted to ``POST /api/system/metrics`` or tailed from
the platform's ``performance_logs`` table, normalised, capped and recorded in
``wedsync_http_request_duration_seconds`` and a 5-minute summary for the health document."""
