"""Does a healthy sandbox stack stay quiet at production settings?

    python bench/quiet_stack.py --minutes 30

Starts ``wedsync-stack up --sandbox`` as it runs by default (15 s probe, scrape and evaluation
intervals, every ``for:`` as written, the real routes and timings of Alertmanager, the stack's own
PostgreSQL and Redis with the reference schema and seed rows, the sandbox posting its API's
request timings), then every 30 s prints the notifications other than the Watchdog's that
Alertmanager sent (pages, tickets) and the alerts Prometheus holds besides the Watchdog. At the end
it prints how many minutes the stack ran with no page and no ticket.

Quiet means: only the Watchdog, for as long as it runs. The CI test
(``tests/test_quiet_stack.py``) checks the same with shortened settings; this is the long run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.quietness import noise
from harness.sandbox_platform import SandboxPlatform
from harness.stack import Stack, StackOptions

POLL_SECONDS = 30.0


def main(argv: list[str] | None = None) -> int:
    """Run the stack for ``--minutes``; exit 0 if it stayed quiet, 1 if it paged or ticketed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="how long to watch after start-up (default 30)")
    args = parser.parse_args(argv)
    options = StackOptions(sandbox=SandboxPlatform(),
                           progress=lambda line: print(f"... {line}", flush=True))
    started = time.monotonic()
    with Stack(options) as stack:
        assert stack.prometheus is not None and stack.webhook is not None
        up = time.monotonic()
        print(f"stack up after {up - started:.0f} s; watching for {args.minutes:g} min at "
              f"production settings", flush=True)
        first_page: float | None = None
        first_ticket: float | None = None
        deadline = up + args.minutes * 60
        while True:
            now = time.monotonic()
            found = noise(stack.prometheus.url, stack.webhook.url)
            minute = (now - up) / 60
            if found.pages() and first_page is None:
                first_page = minute
            if found.tickets() and first_ticket is None:
                first_ticket = minute
            print(f"{minute:6.1f} min  {found}", flush=True)
            if now >= deadline:
                break
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))
        ran = (time.monotonic() - up) / 60
    print(f"== quiet stack at production settings: ran {ran:.1f} min after start-up ==")
    print(f"pages seen: {len(found.pages())}; tickets seen: {len(found.tickets())}; "
          f"other alerts held at the end: {len(found.alerts)}")
    if first_page is None and first_ticket is None:
        print(f"minutes with no page and no ticket: {ran:.1f}")
        return 0
    print(f"first page at {first_page} min; first ticket at {first_ticket} min")
    return 1


if __name__ == "__main__":
    sys.exit(main())
