"""Every feature of the exporter, in two explicit lists: background jobs and HTTP routes.

Nothing registers itself by being imported: a feature is on when it is listed here. Probes are
not features: every component of ``exporter.components.REGISTRY`` is probed by its prober of
``exporter.probes.PROBERS``.
"""

from __future__ import annotations

from functools import partial

from exporter.deploy_gate.routes import add_deploy_gate_routes
from exporter.ingestion.http import add_ingestion_routes
from exporter.ingestion.recorder import Ingestion
from exporter.ingestion.tail import tail_jobs
from exporter.queries.audit_log import audit_log_jobs
from exporter.queries.jobs import query_jobs
from exporter.runtime import JobFactory
from exporter.shared_state.state import SharedState
from exporter.validation.http import add_validation_routes
from exporter.validation.runner import validation_jobs
from exporter.web.health import add_health_routes
from exporter.web.hooks import RouteHook
from exporter.web.status_page import add_status_page_routes


def job_factories(ingestion: Ingestion,
                  shared: SharedState | None = None) -> tuple[JobFactory, ...]:
    """Background work besides probes; the performance_logs tailer feeds ``ingestion`` (on
    the one replica holding its lease, with ``shared`` state)."""
    return (
        partial(tail_jobs, ingestion=ingestion, shared=shared),  # performance_logs tailer
        audit_log_jobs,  # Auth audit-log counts
        query_jobs,  # configured SQL queries (the wedding pack)
        validation_jobs,  # background architecture validation
    )


# Each adds one feature's routes; the core routes (/metrics, /-/healthy, ...) come first.
ROUTES: tuple[RouteHook, ...] = (
    add_deploy_gate_routes,  # GET /api/system/deploy-gate, its override
    add_ingestion_routes,  # POST /api/system/metrics
    add_validation_routes,  # POST /api/architecture/validate
    add_health_routes,  # GET /api/system/health
    add_status_page_routes,  # GET /
)
