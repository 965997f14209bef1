"""The metric catalogue follows the metric contract; logs mask every secret."""

from __future__ import annotations

import re

from exporter.catalogue import FAMILIES, exposed_metric_names, family
from exporter.components import REGISTRY
from exporter.logs import Redactor

PINNED = {
    "wedsync_up": ("gauge", ("component", "target")),
    "wedsync_probe_duration_seconds": ("gauge", ("component", "target")),
    "wedsync_probe_last_success_timestamp_seconds": ("gauge", ("component", "target")),
    "wedsync_probe_failures_total": ("counter", ("component", "target", "reason")),
    "wedsync_component_status": ("gauge", ("component", "target", "status")),
    "wedsync_realtime_broadcast_roundtrip_seconds": ("histogram", ("target",)),
    "wedsync_http_request_duration_seconds": ("histogram", ("route", "method", "status_class")),
    "wedsync_db_connections": ("gauge", ("target", "state")),
    "wedsync_db_max_connections": ("gauge", ("target",)),
    "wedsync_db_tables_without_rls": ("gauge", ("target", "schema")),
    "wedsync_redis_memory_used_bytes": ("gauge", ("target",)),
    "wedsync_redis_memory_max_bytes": ("gauge", ("target",)),
    "wedsync_redis_keyspace_hits_total": ("counter", ("target",)),
    "wedsync_redis_keyspace_misses_total": ("counter", ("target",)),
    "wedsync_weddings": ("gauge", ("window",)),
    "wedsync_wedding_day": ("gauge", ()),
    "wedsync_custom_query_success": ("gauge", ("query",)),
    "wedsync_build_info": ("gauge", ("version",)),
}
FORBIDDEN_LABELS = {"error", "message", "user", "user_id", "supplier_id", "couple_id", "url",
                    "host", "dsn", "email", "id"}


def test_pinned_families_have_their_pinned_type_and_labels() -> None:
    for name, (kind, labels) in PINNED.items():
        fam = family(name)
        assert (fam.kind, fam.labels) == (kind, labels), name


def test_names_follow_the_metric_contract() -> None:
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    for fam in FAMILIES:
        assert re.fullmatch(r"wedsync_[a-z0-9_]+", fam.name), fam.name
        assert fam.name.endswith("_total") == (fam.kind == "counter"), fam.name
        assert fam.help.strip().endswith("."), fam.name
        assert not FORBIDDEN_LABELS & set(fam.labels), fam.name
        if fam.unit:
            assert fam.name.endswith(f"_{fam.unit}") or f"_{fam.unit}_" in fam.name or \
                fam.kind == "histogram", fam.name
        if fam.kind == "histogram":
            assert fam.buckets == tuple(sorted(fam.buckets)), fam.name
    assert {0.05, 0.1, 0.2, 0.5, 1.0, 2.5} <= set(
        family("wedsync_http_request_duration_seconds").buckets)


def test_exposed_names_cover_histogram_samples() -> None:
    names = exposed_metric_names()
    assert "wedsync_http_request_duration_seconds_bucket" in names
    assert "wedsync_probe_failures_total" in names
    assert "wedsync_probe_failures" not in names
    # DESIGN.md's components; later ones (a pooler, queues) join them through the registry.
    assert {"database", "auth", "realtime", "redis", "api", "external"} <= set(REGISTRY.names())


def test_redactor_masks_known_secrets_and_url_passwords() -> None:
    redact = Redactor(["tok-abcdef-123456", "anon.key.value"])
    text = ("failed: Bearer tok-abcdef-123456 to postgresql://app:hunter2@db:5432/x and "
            "wss://h/realtime/v1/websocket?apikey=anon.key.value&vsn=1.0.0 "
            "redis://:pw-in-url@cache:6379/0 https://h/x?token=abc123")
    out = redact(text)
    for secret in ("tok-abcdef-123456", "hunter2", "anon.key.value", "pw-in-url", "abc123"):
        assert secret not in out
    assert "postgresql://app:***@db:5432/x" in out
