"""Imports every feature module so its probes and routes register themselves."""

from exporter import runtime  # noqa: F401 - database and Redis probes
from exporter.probes import auth, http, realtime  # noqa: F401 - Auth, API/external, Realtime
from exporter.queries import audit_log  # noqa: F401 - Auth audit-log counts
from exporter.web import health, status_page  # noqa: F401 - health document, status page
