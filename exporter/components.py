"""The component registry: every component the exporter watches, each declared once.

A component is what the ``component`` label names (``database``, ``realtime``, ...). Its one
declaration below says everything the rest of the code derives from it: the label a person
reads, whether it counts toward ``overall_status``, which target settings its configuration
section takes (a kind of ``exporter.config.targets.TARGET_KINDS``: the schema fragment and the
typed settings it parses to), which prober runs its targets (a key of
``exporter.probes.PROBERS``), its key in the health document and the policy of its "down"
alert. The configuration schema, loader and model, the health document, the status page,
validation, the metric reference's label values, the component alerts, the dashboards'
selectors and the generated docs all read this table; none keeps a list of its own.

Like the metric catalogue this module imports nothing of ours, so the rule and dashboard
generators can read it without importing a probe. A declaration that is incomplete or
contradicts another is an error when it is registered (at import for the table below); one
that names a settings kind or prober nobody provides is an error when the configuration is
loaded or the runtime is built (``check_wiring``), never a component silently skipped.

Adding a component: see docs/architecture.md, "Adding a component".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["critical", "warning", "info"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_TITLE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


class ComponentError(ValueError):
    """A component declaration is incomplete, contradicts another, or names nothing known."""


@dataclass(frozen=True)
class DownAlert:
    """How the component's ``WedSync<title>Down`` alert behaves."""

    # CamelCase part of the alert name: WedSync<title>Down.
    title: str
    # How the summary names one target: "A database target", "An external service".
    noun: str
    severity: Severity
    # ``for:`` on wedding days and on other days. An essential component's wedding-day 15 s
    # is one scrape interval: the alert fires when two scrapes in a row (two probes in a row)
    # saw it down, so one failed probe never pages (docs/alerts.md, "Wedding-day page within a
    # minute").
    wedding_for: str
    other_for: str


@dataclass(frozen=True)
class Component:
    """One component, declared once."""

    # The ``component`` label value and the name of its configuration section.
    name: str
    # What the status page shows.
    label: str
    # Counts toward overall_status by default (``components.essential`` may change that).
    essential: bool
    # Key of exporter.config.targets.TARGET_KINDS: the settings each target takes.
    settings: str
    # Key of exporter.probes.PROBERS: the prober that runs each target.
    prober: str
    # How a probe's messages name the service ("the API"): messages are shown to people.
    spoken: str
    # The configuration section's description (config reference).
    description: str
    down: DownAlert
    # Key in the health document (DESIGN.md: `external` appears as `external_services`).
    document_key: str = ""
    # Answered by POST /api/architecture/validate and the background validation run.
    validated: bool = True
    # Prefix of the component's own metric families (their series go with a removed target).
    metric_prefix: str = ""
    # Essential only where the deployment has it (a pooler): without targets it is neither
    # essential nor listed as "not monitored" (most platforms have none to watch).
    essential_when_configured: bool = False

    def __post_init__(self) -> None:
        if not self.document_key:
            object.__setattr__(self, "document_key", self.name)


def _check(component: Component, others: Iterable[Component]) -> None:
    """Raise ComponentError unless ``component`` is whole and clashes with none of ``others``."""
    where = f"component {component.name!r}"
    if not _NAME.match(component.name):
        raise ComponentError(f"{where}: the name must be lower case letters, digits and _")
    for attribute in ("label", "settings", "prober", "spoken", "description"):
        if not str(getattr(component, attribute)).strip():
            raise ComponentError(f"{where} has no {attribute}; declare it in the registry")
    down = component.down
    if not isinstance(down, DownAlert) or not _TITLE.match(down.title) or not down.noun:
        raise ComponentError(f"{where} needs a DownAlert with a CamelCase title and a noun")
    if down.severity not in ("critical", "warning", "info"):
        raise ComponentError(f"{where}: down alert severity {down.severity!r} is not "
                             f"critical, warning or info")
    for other in others:
        for attribute in ("name", "document_key", "label"):
            if getattr(other, attribute) == getattr(component, attribute):
                raise ComponentError(f"{where}: its {attribute} {getattr(component, attribute)!r}"
                                     f" is already that of component {other.name!r}")
        if other.down.title == down.title:
            raise ComponentError(f"{where}: alert WedSync{down.title}Down already belongs to "
                                 f"component {other.name!r}")
        if component.metric_prefix and other.metric_prefix == component.metric_prefix:
            raise ComponentError(f"{where}: metric prefix {component.metric_prefix!r} already "
                                 f"belongs to component {other.name!r}")


@dataclass
class Registry:
    """The components in their reading order (health document, status page, rules)."""

    _components: dict[str, Component] = field(default_factory=dict)
    # Bumped on every change, so what is derived from the registry (the configuration
    # schema) can be cached and still follow a component registered later (by a test).
    generation: int = 0

    def register(self, component: Component) -> Component:
        """Add ``component`` after the others; an incomplete or clashing one is refused."""
        _check(component, self._components.values())
        self._components[component.name] = component
        self.generation += 1
        return component

    def unregister(self, name: str) -> None:
        """Remove a component (tests that registered one of their own)."""
        self.get(name)
        del self._components[name]
        self.generation += 1

    @contextlib.contextmanager
    def registered(self, component: Component) -> Iterator[Component]:
        """``with REGISTRY.registered(c):`` — ``c`` exists inside the block only."""
        self.register(component)
        try:
            yield component
        finally:
            self.unregister(component.name)

    def __iter__(self) -> Iterator[Component]:
        return iter(tuple(self._components.values()))

    def __len__(self) -> int:
        return len(self._components)

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def get(self, name: str) -> Component:
        """The component called ``name``; an unknown name is a ComponentError naming the known."""
        try:
            return self._components[name]
        except KeyError:
            raise ComponentError(f"unknown component {name!r}; known: "
                                 f"{', '.join(self.names())}") from None

    def names(self) -> tuple[str, ...]:
        """Every component's label value, in reading order."""
        return tuple(self._components)

    def essential(self, configured: Mapping[str, object] | None = None) -> tuple[str, ...]:
        """The components essential by default; with ``configured`` (component -> its
        targets), those essential only where configured are left out when they have none."""
        return tuple(c.name for c in self if c.essential and not (
            c.essential_when_configured and configured is not None
            and not configured.get(c.name)))

    def document_keys(self) -> Mapping[str, str]:
        """Health-document key by component name."""
        return {c.name: c.document_key for c in self}

    def by_document_key(self, key: str) -> Component | None:
        """The component whose health-document key is ``key``, if any."""
        return next((c for c in self if c.document_key == key), None)

    def of_metric(self, name: str) -> str | None:
        """The component whose own family ``name`` is (from its prefix), if any."""
        return next((c.name for c in self if c.metric_prefix and
                     name.startswith(c.metric_prefix)), None)


def check_wiring(kinds: Iterable[str], what: str, wanted: str, where: str) -> None:
    """Raise ComponentError for a component whose ``wanted`` attribute names no key of
    ``kinds`` (``what`` and ``where`` say which table, for the one-line message)."""
    known = set(kinds)
    for component in REGISTRY:
        key = getattr(component, wanted)
        if key not in known:
            raise ComponentError(
                f"component {component.name!r} names {what} {key!r}, which {where} does not "
                f"have (known: {', '.join(sorted(known))}); add it there or fix the "
                f"declaration")


# The components, in reading order. Essential ones page when down (DESIGN.md: database, auth,
# realtime, redis, api); external services are not: a ticket on other days, a page on wedding
# days, and at most `degraded` in overall_status.
REGISTRY = Registry()
for _component in (
    Component("database", "Database", True, settings="postgres", prober="postgres",
              spoken="the database", description="PostgreSQL targets (primary, replicas).",
              down=DownAlert("Database", "A database target", "critical", "15s", "5m"),
              metric_prefix="wedsync_db_"),
    Component("auth", "Sign-in (Auth)", True, settings="supabase_auth", prober="supabase_auth",
              spoken="Auth", description="Supabase Auth (GoTrue) targets.",
              down=DownAlert("Auth", "An Auth target", "critical", "15s", "5m"),
              metric_prefix="wedsync_auth_"),
    Component("realtime", "Live updates (Realtime)", True, settings="supabase_realtime",
              prober="supabase_realtime", spoken="Realtime",
              description="Supabase Realtime targets.",
              down=DownAlert("Realtime", "A Realtime target", "critical", "15s", "5m"),
              metric_prefix="wedsync_realtime_"),
    Component("redis", "Cache (Redis)", True, settings="redis", prober="redis",
              spoken="Redis", description="Redis targets (cache, queue).",
              down=DownAlert("Redis", "A Redis target", "critical", "15s", "5m"),
              metric_prefix="wedsync_redis_"),
    Component("api", "API", True, settings="http", prober="http", spoken="the API",
              description="Health URLs of the WedSync API.",
              down=DownAlert("API", "An API target", "critical", "15s", "5m")),
    Component("external", "External services", False, settings="http", prober="http",
              spoken="the service", description="External services (payments, email, ...).",
              down=DownAlert("ExternalService", "An external service", "warning", "2m", "10m"),
              document_key="external_services", validated=False),
    # Serverless functions reach PostgreSQL through the pooler: essential once configured
    # (a component without targets is "unknown" and never counts).
    Component("pooler", "Database pooler", True, settings="pgbouncer", prober="pgbouncer",
              spoken="PgBouncer",
              description="Connection poolers (PgBouncer) read through their admin console.",
              down=DownAlert("Pooler", "A connection pooler", "critical", "15s", "5m"),
              metric_prefix="wedsync_pooler_", essential_when_configured=True),
    Component("queues", "Background jobs (queues)", False, settings="bullmq", prober="bullmq",
              spoken="the queue Redis", description="BullMQ or Bull v3 job queues in Redis.",
              down=DownAlert("Queues", "A job-queue Redis", "warning", "2m", "10m"),
              metric_prefix="wedsync_queue"),
):
    REGISTRY.register(_component)
del _component
