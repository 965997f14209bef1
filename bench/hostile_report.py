"""The report of ``bench.hostile``: every server's scrapes under every condition, added up
over the rounds, as a table, and the verdict against issue 18's target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

CONDITIONS = ("quiet", "plain flood", "gzip-bomb flood")
ProbeKey = tuple[str, str]


class ProbeCounts(Protocol):
    runs: dict[ProbeKey, float]
    failures: dict[tuple[str, str, str], float]
    always_up: dict[ProbeKey, bool]


class Scraped(Protocol):
    """What one slice of scraping measured (``bench.hostile.ScrapeReport``)."""

    latencies: list[float]
    failed: int
    report: ProbeCounts
    cpu_seconds: float
    wall_seconds: float

    @property
    def p99_ms(self) -> float: ...


def percentile_ms(latencies: list[float], q: float) -> float:
    """The ``q`` quantile of ``latencies`` (seconds) in ms: the sample at rank ``q * n``."""
    ordered = sorted(latencies)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


@dataclass
class Tally:
    """One server under one condition, over every round."""

    latencies: list[float] = field(default_factory=list)
    round_p99: list[float] = field(default_factory=list)
    failed: int = 0
    scrape_wall: float = 0.0
    scrape_cpu: float = 0.0
    attack_wall: float = 0.0
    attack_cpu: float = 0.0
    statuses: list[int] = field(default_factory=list)
    runs: dict[ProbeKey, float] = field(default_factory=dict)
    failures: dict[tuple[str, str, str], float] = field(default_factory=dict)
    always_up: dict[ProbeKey, bool] = field(default_factory=dict)

    def add(self, scraped: Scraped) -> None:
        self.latencies += scraped.latencies
        self.round_p99.append(scraped.p99_ms)
        self.failed += scraped.failed
        self.scrape_wall += scraped.wall_seconds
        self.scrape_cpu += scraped.cpu_seconds
        probes = scraped.report
        for key, runs in probes.runs.items():
            self.runs[key] = self.runs.get(key, 0) + runs
        for fkey, n in probes.failures.items():
            self.failures[fkey] = self.failures.get(fkey, 0) + n
        for key, up in probes.always_up.items():
            self.always_up[key] = self.always_up.get(key, True) and up

    @property
    def p50_ms(self) -> float:
        return percentile_ms(self.latencies, 0.5)

    @property
    def p99_ms(self) -> float:
        return percentile_ms(self.latencies, 0.99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=float("nan")) * 1000

    @property
    def cpu_share(self) -> float:
        return self.scrape_cpu / self.scrape_wall if self.scrape_wall else float("nan")


def per_attack_ms(flooded: Tally, quiet: Tally) -> float:
    """The server's CPU per attack request above its quiet rate, in ms."""
    if not flooded.statuses:
        return float("nan")
    extra = flooded.attack_cpu - quiet.cpu_share * flooded.attack_wall
    return extra / len(flooded.statuses) * 1000


def table(servers: list[str], tallies: dict[tuple[str, str], Tally]) -> list[str]:
    lines = [f"{'server':<8} {'condition':<16} {'scrapes':>7} {'p50 ms':>7} {'p99 ms':>7} "
             f"{'max ms':>7} {'failed':>6} {'CPU':>6}  {'attack req/s':>12} "
             f"{'CPU/attack':>10}  p99 per round (ms)"]
    for condition in CONDITIONS:
        for server in servers:
            t = tallies[server, condition]
            quiet = tallies[server, "quiet"]
            rate = (f"{len(t.statuses) / t.attack_wall:12.0f}" if t.attack_wall
                    else f"{'-':>12}")
            cost = (f"{per_attack_ms(t, quiet):7.3f} ms" if t.statuses else f"{'-':>10}")
            rounds = " ".join(f"{p:.2f}" for p in t.round_p99)
            lines.append(f"{server:<8} {condition:<16} {len(t.latencies):7d} "
                         f"{t.p50_ms:7.3f} {t.p99_ms:7.3f} {t.max_ms:7.2f} {t.failed:6d} "
                         f"{t.cpu_share:6.1%}  {rate} {cost}  {rounds}")
    return lines


def attack_line(tally: Tally) -> str:
    return (f"  requests sent: {len(tally.statuses)}; answers: {sorted(set(tally.statuses))}; "
            f"5xx: {sum(s >= 500 for s in tally.statuses)}")


def verdict(tallies: dict[tuple[str, str], Tally]) -> list[str]:
    """The exporter's p99 under the bomb flood against its quiet p99, and what of the change
    is the machine's (the bare server's own change under the same flood)."""
    ours_quiet, ours_bomb = tallies["ours", "quiet"], tallies["ours", "gzip-bomb flood"]
    bare_quiet, bare_bomb = tallies["bare", "quiet"], tallies["bare", "gzip-bomb flood"]
    change = ours_bomb.p99_ms - ours_quiet.p99_ms
    machine = bare_bomb.p99_ms - bare_quiet.p99_ms
    noise = max(ours_quiet.round_p99) - min(ours_quiet.round_p99)
    excess = change - machine
    if change <= noise:
        said = "MET: unchanged within noise"
    elif excess <= noise:
        said = (f"the rise is the machine's, not the exporter's: a bare aiohttp server on the "
                f"same core rose as much; the exporter's own part ({excess:+.3f} ms) is "
                f"within noise")
    else:
        said = f"NOT MET: the exporter adds {excess:+.3f} ms beyond the bare server's rise"
    return [
        f"p99 quiet → gzip-bomb flood: ours {ours_quiet.p99_ms:.3f} → {ours_bomb.p99_ms:.3f} ms "
        f"({change:+.3f}); bare aiohttp {bare_quiet.p99_ms:.3f} → {bare_bomb.p99_ms:.3f} ms "
        f"({machine:+.3f}); the exporter's part {excess:+.3f} ms",
        f"p50 quiet → gzip-bomb flood: ours {ours_quiet.p50_ms:.3f} → {ours_bomb.p50_ms:.3f} ms; "
        f"bare aiohttp {bare_quiet.p50_ms:.3f} → {bare_bomb.p50_ms:.3f} ms",
        f"noise: the spread of ours' quiet p99 over {len(ours_quiet.round_p99)} rounds, "
        f"{noise:.3f} ms (the bare server's: "
        f"{max(bare_quiet.round_p99) - min(bare_quiet.round_p99):.3f} ms)",
        f"verdict (issue 18: /metrics p99 unchanged under a gzip-bomb flood): {said}",
    ]
