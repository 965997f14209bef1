"""The status page's states, incidents and uptime arithmetic, without servers: Statuspage's four
grades from our statuses and the number of targets down, "not monitored" kept apart, the page's
indicator, incidents opened and resolved from the grades, operators' updates refused when they
are empty or too long, and maintenance hours left out of the uptime figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exporter.config import ConfigError, parse_config
from exporter.config.model import MaintenanceWindow
from exporter.status import TargetState
from exporter.statuspage.grades import GradedComponent, grade, indicator
from exporter.statuspage.history import assemble, retention_days
from exporter.statuspage.incidents import MAX_UPDATE_CHARS, IncidentLog, UpdateRefused
from exporter.statuspage.snapshot import graded
from exporter.summary import summarise

NOW = datetime(2026, 6, 6, 14, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def target(name: str, status: str, up: bool | None = True) -> TargetState:
    return TargetState("api", name, status=status, up=up if status != "unknown" else None)


@pytest.mark.parametrize(("statuses", "expected"), [
    ((("healthy", True),), "operational"),
    ((("healthy", True), ("degraded", True)), "degraded_performance"),
    ((("healthy", True), ("critical", True)), "partial_outage"),  # up, but too slow
    ((("healthy", True), ("critical", False)), "partial_outage"),  # one of two down
    ((("critical", False),), "major_outage"),  # the only target down
    ((("critical", False), ("critical", False)), "major_outage"),
    ((("critical", False), ("unknown", None)), "major_outage"),  # every checked one down
])
def test_grade_follows_status_and_how_many_targets_are_down(statuses, expected) -> None:
    targets = [target(f"t{i}", status, up) for i, (status, up) in enumerate(statuses)]
    assert grade(targets) == expected


def test_a_component_without_targets_or_checks_is_not_monitored_not_operational() -> None:
    assert grade([]) is None
    assert grade([target("t", "unknown")]) is None


def component(name: str, shown: str | None, essential: bool = True) -> GradedComponent:
    return GradedComponent(name=name, label=name.title(), essential=essential, grade=shown,
                           measured=shown, position=1)


@pytest.mark.parametrize(("grades", "expected"), [
    ({"database": "operational"}, ("none", "All Systems Operational")),
    ({"database": "degraded_performance"}, ("minor", "Degraded System Service")),
    ({"database": "degraded_performance", "api": "operational"},
     ("minor", "Partially Degraded Service")),
    ({"database": "partial_outage"}, ("major", "Partial System Outage")),
    ({"database": "major_outage"}, ("critical", "Major System Outage")),
    ({"database": "major_outage", "api": "under_maintenance"},
     ("critical", "Major System Outage")),
    ({"database": "under_maintenance"}, ("none", "Service Under Maintenance")),
    ({"database": "operational", "api": None}, ("none", "All Systems Operational")),
])
def test_indicator_is_the_worst_grade(grades, expected) -> None:
    assert indicator([component(n, g) for n, g in grades.items()]) == expected


def test_a_component_that_is_not_essential_makes_the_indicator_at_most_minor() -> None:
    found = indicator([component("database", "operational"),
                       component("external", "major_outage", essential=False)])
    assert found == ("minor", "Minor Service Outage")


def test_a_monitored_component_inside_an_open_window_is_under_maintenance() -> None:
    states = {("redis", "cache"): TargetState("redis", "cache", status="critical", up=False)}
    _, summaries = summarise(states, ("database", "redis"))
    window = MaintenanceWindow(NOW - timedelta(hours=1), NOW + timedelta(hours=1),
                               ("redis", "database"), "Cache upgrade")
    shown = {c.name: (c.grade, c.measured) for c in graded(summaries, [window], NOW)}
    assert shown["redis"] == ("under_maintenance", "major_outage")
    assert shown["database"] == (None, None)  # not monitored stays not monitored
    later = {c.name: c.grade for c in graded(summaries, [window], NOW + timedelta(hours=2))}
    assert later["redis"] == "major_outage"


def test_an_outage_opens_an_incident_that_follows_it_and_is_resolved_when_it_ends() -> None:
    log = IncidentLog()
    log.observe([component("api", "partial_outage")], NOW)
    [incident] = log.open()
    assert (incident.component, incident.started_at, incident.status, incident.impact) == (
        "api", NOW, "investigating", "major")
    log.observe([component("api", "major_outage")], NOW + timedelta(minutes=1))
    assert log.open()[0].worst == "major_outage" and log.open()[0].impact == "critical"
    log.observe([component("api", "degraded_performance")], NOW + timedelta(minutes=5))
    assert log.open() == []
    [resolved] = log.resolved()
    assert resolved.resolved_at == NOW + timedelta(minutes=5)
    assert resolved.started_at == NOW and resolved.status == "resolved"
    assert resolved.name == "Api: major outage"


def test_degraded_performance_and_maintenance_open_no_incident() -> None:
    log = IncidentLog()
    log.observe([component("api", "degraded_performance")], NOW)
    maintained = GradedComponent("redis", "Redis", True, grade="under_maintenance",
                                 measured="major_outage", position=2)
    log.observe([maintained], NOW)
    assert log.open() == [] and log.resolved() == []


def test_resolved_incidents_are_kept_for_a_week() -> None:
    log = IncidentLog()
    log.observe([component("api", "major_outage")], NOW)
    log.observe([component("api", "operational")], NOW + timedelta(minutes=1))
    log.observe([component("api", "operational")], NOW + timedelta(days=8))
    assert log.resolved() == []


def test_an_update_is_kept_trimmed_and_bad_ones_are_refused() -> None:
    log = IncidentLog()
    log.observe([component("api", "major_outage")], NOW)
    incident_id = log.open()[0].id
    update = log.add_update(incident_id, "  We are on it.\x07 <b>soon</b>  ", NOW)
    assert update.body == "We are on it. <b>soon</b>"  # escaped where shown, not here
    assert log.open()[0].updates == [update]
    for body, reason in [("   ", "empty"), ("x" * (MAX_UPDATE_CHARS + 1), "limit"),
                         (42, "'body' string")]:
        with pytest.raises(UpdateRefused, match=reason):
            log.add_update(incident_id, body, NOW)
    with pytest.raises(UpdateRefused, match="no open or recent incident"):
        log.add_update("database-1", "hello", NOW)


def test_retention_flag_in_days() -> None:
    assert retention_days("35d") == 35
    assert retention_days("1y2w") == 379
    assert retention_days("0s") is None


def test_daily_availability_leaves_maintenance_hours_out() -> None:
    day = datetime(2026, 6, 5, tzinfo=LONDON)
    hour = 3600.0
    points = []
    for h in range(1, 25):  # every hour of 5 June (London): up, except 10:00-12:00
        end = (day + timedelta(hours=h)).timestamp()
        points.append((end, hour, 0.0 if h in (11, 12) else 1.0))
    window = MaintenanceWindow(day + timedelta(hours=10), day + timedelta(hours=11),
                               ("api",), "Upgrade")
    found = assemble({"api": points}, days=3, retention=35, now=datetime(
        2026, 6, 6, 12, tzinfo=LONDON), zone=LONDON, windows=[window])
    days = {d.day.isoformat(): d.availability for d in found.by_component["api"]}
    # The 10:00-11:00 hour is maintenance: 22 of the 23 counted hours were up.
    assert days == {"2026-06-04": None, "2026-06-05": pytest.approx(22 / 23),
                    "2026-06-06": None}
    assert found.overall["api"] == pytest.approx(22 / 23)


def test_maintenance_windows_are_read_in_the_platforms_time_zone_and_checked() -> None:
    config = parse_config(
        "maintenance:\n  windows:\n"
        "    - {start: '2026-06-06T09:00', end: '2026-06-06T10:00', components: [redis],"
        " message: Cache upgrade}\n", {})
    [window] = config.maintenance
    assert window.start == datetime(2026, 6, 6, 8, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match=r"maintenance\.windows\[0\]: end must be after"):
        parse_config("maintenance:\n  windows:\n"
                     "    - {start: '2026-06-06T10:00Z', end: '2026-06-06T09:00Z', "
                     "components: [redis], message: x}\n", {})
    with pytest.raises(ConfigError, match="maintenance"):
        parse_config("maintenance:\n  windows:\n"
                     "    - {start: tomorrow, end: '2026-06-06T09:00Z', "
                     "components: [redis], message: x}\n", {})
    with pytest.raises(ConfigError, match="components"):
        parse_config("maintenance:\n  windows:\n"
                     "    - {start: '2026-06-06T09:00Z', end: '2026-06-06T10:00Z', "
                     "components: [kitchen], message: x}\n", {})


def test_a_component_without_history_keeps_its_uptime_row_saying_no_data() -> None:
    """Prometheus leaves out hours of maintenance: a component under maintenance all period
    gets no series at all, and its row must not vanish from the page."""
    from exporter.statuspage import sections
    from exporter.statuspage.snapshot import Snapshot

    found = assemble({"api": [(NOW.timestamp(), 3600.0, 1.0)]}, days=3, retention=35,
                     now=NOW, zone=LONDON, windows=[])
    components = [component("api", "operational"), component("redis", "under_maintenance"),
                  component("auth", None)]
    snapshot = Snapshot(now=NOW, zone=LONDON, title="t", components=components,
                        indicator="none", description="Service Under Maintenance",
                        open_incidents=[], resolved_incidents=[], maintenance=[],
                        wedding_day=False, history=found, history_missing="")
    page = sections.history(snapshot)
    redis = page.split('data-component="redis"')[1]
    assert "no data" in redis and redis.count('class="bar none"') == 3  # three empty days
    assert 'data-component="auth"' not in page  # not monitored: no row
