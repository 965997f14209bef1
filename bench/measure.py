"""Measuring helpers for the benchmarks: process CPU (ns, from schedstat), RSS, and scrape
loops that send what Prometheus sends."""

from __future__ import annotations

import contextlib
import http.client
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.processes import children

PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


def cpu_ns(pids: Iterable[int]) -> int:
    """CPU time used so far by the processes (all threads), in nanoseconds."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def wakeups(pids: Iterable[int]) -> int:
    """Times the processes (all threads) went to sleep and were woken so far: their voluntary
    context switches."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError, StopIteration):
                total += int(next(line.split()[1] for line in (task / "status").open()
                                  if line.startswith("voluntary_ctxt_switches")))
    return total


_BARE_WAKES = """
import asyncio, os, sys
from bench.measure import cpu_ns
try:
    import uvloop
    run = uvloop.run
except ImportError:
    run = asyncio.run
async def main(count, period):
    await asyncio.sleep(period)
    before = cpu_ns([os.getpid()])
    for _ in range(count):
        await asyncio.sleep(period)
    print((cpu_ns([os.getpid()]) - before) / count / 1e3)
run(main(int(sys.argv[1]), float(sys.argv[2])))
"""


def wake_cost_us(count: int = 20, period: float = 0.5) -> float:
    """CPU (µs) that one wake-up of a bare event loop doing nothing else costs on this machine:
    what every timer and every answer from a server costs an idle exporter before any work.
    Machines differ by ten times and more (a VM's wake from idle), which moves every idle
    figure with it."""
    out = subprocess.run([sys.executable, "-c", _BARE_WAKES, str(count), str(period)],
                         capture_output=True, text=True, check=True, timeout=count * period + 30,
                         cwd=Path(__file__).resolve().parent.parent)
    return float(out.stdout.strip())


def reaped_ns(pid: int) -> int:
    """CPU time of ``pid``'s children that have exited and been waited for (a postmaster's
    autovacuum workers), in nanoseconds (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks * 10**9 // os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a PostgreSQL postmaster and its backends)."""
    return [pid, *children(pid)]


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class ScrapeResult:
    name: str
    count: int
    p50_ms: float
    p99_ms: float
    cpu_ms_per_scrape: float
    extra_cpu_ms_per_scrape: float
    body_bytes: int

    def line(self) -> str:
        extra = (f" + {self.extra_cpu_ms_per_scrape:.2f} ms server CPU"
                 if self.extra_cpu_ms_per_scrape else "")
        return (f"{self.name:<28} p50 {self.p50_ms:7.3f} ms  p99 {self.p99_ms:7.3f} ms  "
                f"CPU/scrape {self.cpu_ms_per_scrape:6.3f} ms{extra}  ({self.body_bytes} B)")


def scrape(name: str, port: int, pids: list[int], count: int = 200,
           extra_pids: list[int] | None = None, headers: dict[str, str] | None = None,
           path: str = "/metrics") -> ScrapeResult:
    """``count`` keep-alive scrapes; latency percentiles and CPU per scrape of ``pids``
    (and of ``extra_pids``, e.g. the database a peer queries on each scrape)."""
    headers = PROMETHEUS_HEADERS if headers is None else headers
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(5):  # warm up the connection and caches
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    extra_pids = extra_pids or []
    cpu_before, extra_before = cpu_ns(pids), cpu_ns(extra_pids)
    latencies = []
    size = 0
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        body = conn.getresponse().read()
        latencies.append(time.perf_counter() - started)
        size = len(body)
    cpu_after, extra_after = cpu_ns(pids), cpu_ns(extra_pids)
    conn.close()
    latencies.sort()
    return ScrapeResult(
        name=name, count=count,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        cpu_ms_per_scrape=(cpu_after - cpu_before) / count / 1e6,
        extra_cpu_ms_per_scrape=(extra_after - extra_before) / count / 1e6,
        body_bytes=size,
    )


def pin(pid: int, cpus: set[int]) -> None:
    """Run every thread of ``pid`` on ``cpus`` only (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)
