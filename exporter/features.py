"""Imports every feature module so its probes and routes register themselves."""

from exporter import runtime  # noqa: F401 - database and Redis probes
from exporter.deploy_gate import routes as deploy_gate_routes  # noqa: F401 - deploy gate
from exporter.probes import auth, http, realtime  # noqa: F401 - Auth, API/external, Realtime
from exporter.queries import (
    audit_log,  # noqa: F401 - Auth audit-log counts
    jobs,  # noqa: F401 - configured SQL queries (the wedding pack)
)
from exporter.web import health, status_page  # noqa: F401 - health document, status page
