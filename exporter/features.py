"""Imports every feature module so its probes and routes register themselves."""

from exporter import runtime  # noqa: F401 - database and Redis probes
from exporter.deploy_gate import routes as deploy_gate_routes  # noqa: F401 - deploy gate
from exporter.queries import jobs  # noqa: F401 - configured SQL queries (the wedding pack)
