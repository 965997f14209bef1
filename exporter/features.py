"""Imports every feature module so its probes and routes register themselves."""

from exporter import runtime  # noqa: F401 - database and Redis probes
from exporter.deploy_gate import routes as deploy_gate_routes  # noqa: F401 - deploy gate
from exporter.ingestion import http as ingestion_http  # noqa: F401 - POST /api/system/metrics
from exporter.ingestion import tail as ingestion_tail  # noqa: F401 - performance_logs tailer
from exporter.probes import auth, http, realtime  # noqa: F401 - Auth, API/external, Realtime
from exporter.queries import (
    audit_log,  # noqa: F401 - Auth audit-log counts
    jobs,  # noqa: F401 - configured SQL queries (the wedding pack)
)
from exporter.validation import http as validation_http  # noqa: F401 - POST /api/architecture/validate
from exporter.validation import runner as validation_runner  # noqa: F401 - background validation
from exporter.web import health, status_page  # noqa: F401 - health document, status page
