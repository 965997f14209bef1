"""The stack a drill starts itself: a throwaway PostgreSQL (reference schema, today's weddings),
a throwaway Redis, a PgBouncer in front of the PostgreSQL, the sandbox reporting its API
timings to the exporter, and the harness stack (exporter, Prometheus, Alertmanager, the
recording webhook) — all on free loopback ports.

Because the drill started the PostgreSQL, the Redis and the PgBouncer, it may pause and stop
them; it never touches any other server. Weddings dated today (in the exporter's time zone)
make the day a wedding day whatever the calendar says, so the drill rehearses a Saturday:
tighter thresholds, shorter ``for:``, and warnings that page.

The exporter runs ``exporter/example.yaml`` unchanged except for the probe timeout (shortened
with the fast intervals) and the ingestion rate limit; everything else comes in through the
example's own ``${WEDSYNC_…}`` variables, secrets included.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts import durations
from drill.injection import OwnServers
from drill.notifications import ReceiverSource
from drill.target import OWN_STACK, Target
from drill.timing import FAST, Timing
from harness.ha_stack import HAOptions, HAStack, group_wait_between_evaluations
from harness.pgbouncer import PgBouncerServer
from harness.ports import free_port
from harness.postgres import PostgresServer
from harness.redis import RedisServer
from harness.sandbox import SandboxServer, StackSandbox
from harness.stack import Stack, StackOptions, example_exporter_config
from loadtests.runner import realtime_url_for

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "sandbox" / "schema.sql"
DATABASE = "wedsync"
INGESTION_PATH = "/api/system/metrics"


# The HA shape at fast settings: a page fails over to the next Alertmanager within this, and the
# Watchdog is repeated this often (its gaps are judged).
HA_FAST_PEER_TIMEOUT = 2.0
# Members probe each other this often: they agree a killed one is gone within about two
# seconds, well before the fault pages (Alertmanager's 1 s takes about seven).
HA_FAST_PROBE_INTERVAL = 0.25
HA_FAST_WATCHDOG_REPEAT = 5.0
# Alertmanager's group_interval must exceed the time the two Prometheus disagree (one resolves
# a scrape and an evaluation before the other), or a flush in between turns resolved back into
# firing: a second page. Production's minutes are far above it; fast drills use at least this.
HA_SHORTEST_GROUP_INTERVAL = 5.0


def _duration(seconds: float | None) -> str | None:
    return None if seconds is None else durations.text(seconds)


class OwnStack:
    """``with OwnStack(FAST) as target:`` everything a drill needs, stopped afterwards."""

    def __init__(self, timing: Timing = FAST, weddings_today: int = 40, ha: bool = False) -> None:
        self.ha = ha
        if ha and timing.group_interval is not None:
            timing = replace(timing, group_interval=max(timing.group_interval,
                                                        HA_SHORTEST_GROUP_INTERVAL))
        if ha and timing.group_wait is not None:
            timing = replace(timing, group_wait=group_wait_between_evaluations(
                timing.group_wait, timing.evaluation_interval))
        self.timing = timing
        self.weddings_today = weddings_today
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.pgbouncer: PgBouncerServer | None = None
        self.sandbox: SandboxServer | None = None
        self.stack: Stack | None = None
        self.target: Target | None = None
        self._ingest_token = secrets.token_urlsafe(24)

    def start(self) -> Target:
        """Start every part; on failure stop what started and raise."""
        try:
            self.target = self._start()
            return self.target
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Target:
        timing = self.timing
        self.postgres = PostgresServer(stat_statements=False).start()
        self._load_schema(self.postgres)
        self.redis = RedisServer()
        self.redis.start()
        # The pooler the platform's functions would go through (the pooler-stop fault's).
        self.pgbouncer = PgBouncerServer(self.postgres.port, databases=(DATABASE,),
                                         password=secrets.token_urlsafe(16))
        self.pgbouncer.start()

        exporter_port = free_port()
        anon_key = secrets.token_hex(16)
        probe_password = secrets.token_urlsafe(16)
        self.sandbox = SandboxServer(anon_key=anon_key, probe_password=probe_password, env={
            "SANDBOX_TIMINGS_URL": f"http://127.0.0.1:{exporter_port}{INGESTION_PATH}",
            "SANDBOX_INGEST_TOKEN": self._ingest_token,
            "SANDBOX_TIMINGS_INTERVAL": f"{timing.report_interval:g}"})
        config = example_exporter_config()
        config["probe_defaults"] = {**config["probe_defaults"],
                                    "timeout": durations.text(timing.probe_timeout)}
        # The sandbox posts every report interval; the default 100/minute is for a real API.
        config["rate_limits"] = {**config["rate_limits"], "ingestion": "6000/minute"}
        if timing.query_interval is not None:
            config["queries"] = {
                name: {**query, "interval": durations.text(timing.query_interval),
                       "timeout": durations.text(timing.probe_timeout)}
                for name, query in config["queries"].items()}
        environment = {
            "WEDSYNC_DATABASE_URL": self.postgres.dsn(dbname=DATABASE),
            "WEDSYNC_REDIS_URL": self.redis.url(),
            "WEDSYNC_POOLER_URL": self.pgbouncer.admin_dsn(),
            "WEDSYNC_AUTH_URL": self.sandbox.auth_url,
            "WEDSYNC_REALTIME_URL": self.sandbox.realtime_url,
            "WEDSYNC_API_URL": self.sandbox.api_url,
            "SUPABASE_ANON_KEY": anon_key,
            "WEDSYNC_INGEST_TOKEN": self._ingest_token,
            "WEDSYNC_PROBE_INTERVAL_SECONDS": f"{timing.probe_interval:g}",
        }
        options = StackOptions(
            exporter_config=config, exporter_env=environment,
            scrape_interval=durations.text(timing.scrape_interval),
            evaluation_interval=durations.text(timing.evaluation_interval),
            for_scale=timing.for_scale, group_wait=_duration(timing.group_wait),
            group_interval=_duration(timing.group_interval),
            repeat_interval=_duration(timing.repeat_interval),
            sandbox=StackSandbox(self.sandbox, sections=False), exporter_port=exporter_port)
        if self.ha:
            return self._ha_target(options, anon_key)
        self.stack = Stack(options).start()
        assert self.stack.prometheus and self.stack.alertmanager and self.stack.exporter
        assert self.stack.webhook is not None
        return Target(
            mode=OWN_STACK, prometheus_url=self.stack.prometheus.url,
            alertmanager_url=self.stack.alertmanager.url, exporter_url=self.stack.exporter.url,
            base_url=self.sandbox.url, realtime_url=realtime_url_for(self.sandbox.url),
            notifications=ReceiverSource(self.stack.webhook), timing=timing,
            sandbox_url=self.sandbox.url,
            own=OwnServers(redis=self.redis, postgres=self.postgres, pgbouncer=self.pgbouncer),
            k6_environment={"ANON_KEY": anon_key, "API_TOKEN": self.sandbox.access_token()})

    def _ha_target(self, options: StackOptions, anon_key: str) -> Target:
        """The HA stack; the target's URLs are the parts that survive the kills."""
        assert self.sandbox is not None and self.redis and self.postgres and self.pgbouncer
        fast = self.timing.for_scale < 1
        ha = HAOptions(
            peer_timeout=durations.text(HA_FAST_PEER_TIMEOUT) if fast else "15s",
            probe_interval=durations.text(HA_FAST_PROBE_INTERVAL) if fast else None,
            watchdog_repeat=durations.text(HA_FAST_WATCHDOG_REPEAT) if fast else None)
        stack = HAStack(options, ha)
        self.stack = stack.start()
        assert stack.webhook is not None
        # The sandbox posts its timings to the first exporter: the second is the one killed.
        victims = (stack.prometheuses[0], stack.alertmanagers[0], stack.exporters[1])
        survivors = (stack.prometheuses[1], stack.alertmanagers[1], stack.exporters[0])

        def kill_one_of_each() -> str:
            for part in victims:
                stack.kill(part)
            return (f"killed Prometheus {victims[0].url}, Alertmanager {victims[1].url} and "
                    f"exporter {victims[2].url} (SIGKILL)")

        watchdog_every = durations.seconds(ha.watchdog_repeat) if ha.watchdog_repeat else 60.0
        return Target(
            mode=OWN_STACK, prometheus_url=survivors[0].url, alertmanager_url=survivors[1].url,
            exporter_url=survivors[2].url, base_url=self.sandbox.url,
            realtime_url=realtime_url_for(self.sandbox.url),
            notifications=ReceiverSource(stack.webhook), timing=self.timing,
            sandbox_url=self.sandbox.url,
            own=OwnServers(redis=self.redis, postgres=self.postgres, pgbouncer=self.pgbouncer),
            k6_environment={"ANON_KEY": anon_key, "API_TOKEN": self.sandbox.access_token()},
            kill_one_of_each=kill_one_of_each,
            exporter_matchers=f'instance="127.0.0.1:{survivors[2].port}"',
            watchdog_every=watchdog_every)

    def _load_schema(self, server: PostgresServer) -> None:
        """The reference schema, and today's weddings (in the exporter's time zone)."""
        server.execute(f"CREATE DATABASE {DATABASE}")
        server.execute(SCHEMA.read_text(), dbname=DATABASE)
        if self.weddings_today <= 0:
            return
        zone = ZoneInfo(str(example_exporter_config().get("timezone", "Europe/London")))
        today = dt.datetime.now(zone).date().isoformat()
        count = int(self.weddings_today)
        server.execute(
            f"INSERT INTO couples (id) SELECT gen_random_uuid() FROM generate_series(1, {count});"
            f"INSERT INTO weddings (couple_id, wedding_date, venue) "
            f"SELECT id, DATE '{today}', 'Drill venue' FROM couples", dbname=DATABASE)

    def describe(self) -> str:
        """Where each part listens, for people."""
        lines = self.stack.describe().splitlines() if self.stack else []
        if self.postgres:
            lines.append(f"{'postgres':<13} 127.0.0.1:{self.postgres.port}   (the drill's own)")
        if self.redis:
            lines.append(f"{'redis':<13} 127.0.0.1:{self.redis.port}   (the drill's own)")
        if self.pgbouncer:
            lines.append(f"{'pgbouncer':<13} 127.0.0.1:{self.pgbouncer.port}   (the drill's own)")
        return "\n".join(lines)

    def stop(self) -> None:
        """Stop everything (the stack first, then the servers) and delete their files."""
        self.target = None
        if self.stack is not None:
            self.stack.stop()  # the sandbox, as its plugin, stops with it
            self.stack = None
        elif self.sandbox is not None:
            self.sandbox.cleanup()
        self.sandbox = None
        if self.redis is not None:
            self.redis.cleanup()
            self.redis = None
        if self.pgbouncer is not None:
            self.pgbouncer.cleanup()
            self.pgbouncer = None
        if self.postgres is not None:
            self.postgres.cleanup()
            self.postgres = None

    def __enter__(self) -> Target:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
