"""Imports every feature module so its probes and routes register themselves."""

from exporter import runtime  # noqa: F401 - database and Redis probes
from exporter.ingestion import http as ingestion_http  # noqa: F401 - POST /api/system/metrics
from exporter.ingestion import tail as ingestion_tail  # noqa: F401 - performance_logs tailer
from exporter.validation import http as validation_http  # noqa: F401 - POST /api/architecture/validate
from exporter.validation import runner as validation_runner  # noqa: F401 - background validation
