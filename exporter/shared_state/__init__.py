"""State that several exporter replicas share through a Redis of the monitoring's own: the
deploy gate's override, status-page updates, rate limits and the performance_logs tailer's
lease (``shared_state`` in the configuration; off for a single replica)."""
