"""Names the dashboards share: UIDs, titles, the datasource, tags, refresh (in the spirit of
kubernetes-mixin's ``_config``).

UIDs are part of every link between dashboards and of people's bookmarks: never change one.
"""

from __future__ import annotations

from dataclasses import dataclass

# The provisioned Prometheus datasource (grafana/provisioning/datasources/prometheus.yml).
# Panels reach it through the template variable below, so another Prometheus can be picked.
DATASOURCE_TYPE = "prometheus"
DATASOURCE_UID = "wedsync-prometheus"
DATASOURCE_NAME = "Prometheus"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_REF = {"type": DATASOURCE_TYPE, "uid": f"${{{DATASOURCE_VARIABLE}}}"}

# Every dashboard carries this tag; the "WedSync dashboards" link menu lists the dashboards
# that have it.
TAG = "wedsync"
REFRESH = "30s"
TIME_FROM = "now-6h"
TIMEZONE = "browser"
# Current Grafana's dashboard schema version (Grafana 12): panels are written in today's
# shape, so Grafana runs no migration on them.
SCHEMA_VERSION = 41


@dataclass(frozen=True)
class Board:
    """One dashboard's identity: its stable UID, its title and its file name."""

    uid: str
    title: str
    file: str

    @property
    def path(self) -> str:
        """Grafana's URL path of the dashboard (``/d/<uid>``)."""
        return f"/d/{self.uid}"


OVERVIEW = Board("wedsync-overview", "WedSync / Wedding day overview", "overview.json")
API = Board("wedsync-api-slo", "WedSync / API and SLOs", "api-slo.json")
DATABASE = Board("wedsync-database", "WedSync / Database", "database.json")
REDIS = Board("wedsync-redis", "WedSync / Redis and cache", "redis.json")
REALTIME_AUTH = Board("wedsync-realtime-auth", "WedSync / Realtime and Auth",
                      "realtime-auth.json")
LOAD_TESTS = Board("wedsync-load-tests", "WedSync / Load tests", "load-tests.json")
EXPORTER = Board("wedsync-exporter", "WedSync / Exporter health", "exporter.json")
POOLER = Board("wedsync-pooler", "WedSync / Connection pooler", "pooler.json")
CAPACITY = Board("wedsync-capacity", "WedSync / Capacity", "capacity.json")

BOARDS: tuple[Board, ...] = (OVERVIEW, API, DATABASE, REDIS, REALTIME_AUTH, LOAD_TESTS, EXPORTER,
                             POOLER, CAPACITY)
