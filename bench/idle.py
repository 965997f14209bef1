"""Idle cost, broken down: what the exporter, its PostgreSQL and its Redis spend between
scrapes, next to a PostgreSQL and a Redis nobody is connected to (same run, same machine).

    python -m bench.idle [--minutes 2] [--scrape-every 7.5]

Starts throwaway servers (as ``bench.scrape`` does) and the exporter with ``bench.scrape``'s
configuration (PostgreSQL, Redis and the built-in ``weddings`` query, default 15 s probes),
scrapes it every ``--scrape-every`` seconds (an HA pair scraping every 15 s) and prints CPU ms
per minute of each process — the exporter, its PostgreSQL (postmaster and backends), its
Redis, and the untouched pair — plus the exporter's RSS, and its floor: a fresh interpreter
that only imports what the exporter imports at start (``bench/floor.py``).
"""

from __future__ import annotations

import argparse
import http.client
import time

from bench import floor
from bench.measure import PROMETHEUS_HEADERS, cpu_ns, rss_bytes, tree
from bench.scrape import REPO, start_backends, start_ours
from tests.support import samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--scrape-every", type=float, default=7.5)
    args = parser.parse_args()
    schema = (REPO / "sandbox" / "schema.sql").read_text()
    backends = start_backends(schema)
    untouched = start_backends(schema)
    ours = None
    try:
        pg, redis = backends
        ours = start_ours(pg, redis)
        time.sleep(2)
        assert ours.process is not None
        groups = {
            "exporter": lambda: [ours.process.pid],  # type: ignore[union-attr]
            "its PostgreSQL": lambda: tree(pg.pid),
            "its Redis": lambda: [redis.process.pid],
            "untouched PostgreSQL": lambda: tree(untouched[0].pid),
            "untouched Redis": lambda: [untouched[1].process.pid],
        }
        before = {name: cpu_ns(pids()) for name, pids in groups.items()}
        started = time.monotonic()
        until = started + args.minutes * 60
        scrapes = 0
        while time.monotonic() < until:
            conn = http.client.HTTPConnection("127.0.0.1", ours.port, timeout=10)
            conn.request("GET", "/metrics", headers=PROMETHEUS_HEADERS)
            conn.getresponse().read()
            conn.close()
            scrapes += 1
            time.sleep(max(0.0, min(args.scrape_every, until - time.monotonic())))
        minutes = (time.monotonic() - started) / 60
        print(f"== CPU ms per minute over {minutes:.1f} min, {scrapes} scrapes "
              f"(one every {args.scrape_every:g} s) ==")
        costs = {name: (cpu_ns(pids()) - before[name]) / 1e6 / minutes
                 for name, pids in groups.items()}
        for name, cost in costs.items():
            print(f"  {name:<22} {cost:8.1f} ms/min")
        whole = costs["exporter"] + costs["its PostgreSQL"] + costs["its Redis"]
        print(f"  whole (exporter + its servers): {whole:.1f} ms/min; minus what the untouched "
              f"servers spend anyway: "
              f"{whole - costs['untouched PostgreSQL'] - costs['untouched Redis']:.1f} ms/min")
        text = ours.metrics()
        render = next((v for n, _, v in samples(text)
                       if n == "wedsync_metrics_render_duration_seconds"), 0.0)
        size = len(text.encode())
        print(f"  last rendering of /metrics: {render * 1000:.2f} ms CPU ({size / 1024:.0f} KiB)")
        rss = rss_bytes(ours.process.pid)
        low = floor.measure()
        print(f"  exporter RSS {rss / 2**20:.1f} MiB; floor (interpreter + the modules imported "
              f"at start, {low.modules} modules, python -m bench.floor) {low.rss / 2**20:.1f} MiB")
    finally:
        if ours is not None:
            ours.stop()
        for pg_server, redis_server in (backends, untouched):
            pg_server.cleanup()
            redis_server.cleanup()


if __name__ == "__main__":
    main()
