"""A tracer of what holds the exporter's event loop, loaded into the exporter process only.

``bench.loop_holders`` writes a ``sitecustomize.py`` that calls ``install()`` into a temporary
directory, puts that directory on the exporter's ``PYTHONPATH`` (the exporter's alone) and sets
``WEDSYNC_LOOP_TRACE`` to a file. In that process ``install()`` then:

- keeps uvloop from loading (its loop cannot be traced; asyncio's own loop runs the same
  callbacks in the same order);
- wraps ``asyncio.events.Handle._run`` to take each callback's CPU time on the loop thread's
  own clock (``time.thread_time``: time the process spent waiting for a core does not count,
  so neighbours on a shared machine cannot inflate it), and names what ran: a task's
  coroutine and where it stood before and after the step, and the request path of a request
  handler;
- times the garbage collector's passes the same way;
- on SIGUSR1 appends what it gathered since the last signal to the file as one JSON line, and
  starts afresh.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import signal
import sys
import time
from typing import Any

# CPU time of one callback (seconds): the upper bounds of the counted ranges.
BOUNDS = (0.00025, 0.0005, 0.001, 0.002, 0.005)
# Callbacks at least this long are listed by what they were.
LISTED = 0.0005


class _NoUvloop:
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "uvloop" or name.startswith("uvloop."):
            raise ImportError("uvloop is kept out while the loop is traced")


def _where(coro: Any) -> str:
    """The innermost frame of a coroutine's await chain: file:line:function."""
    where = ""
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            where = (f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}:"
                     f"{frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return where


def _describe(handle: Any) -> str:
    callback = handle._callback
    task = getattr(callback, "__self__", None)
    if task is not None and hasattr(task, "get_coro"):
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", "?")
        frame = getattr(coro, "cr_frame", None)
        if frame is not None and "request" in frame.f_locals:
            path = getattr(frame.f_locals["request"], "path", None)
            if path:
                name = f"{name} {path}"
        return f"{name} @ {_where(coro)}"
    return getattr(callback, "__qualname__", type(callback).__name__)


class Tracer:
    def __init__(self, out: str) -> None:
        self.out = out
        self.reset()

    def reset(self) -> None:
        self.started = time.monotonic()
        self.callbacks = 0
        self.buckets = [0] * (len(BOUNDS) + 1)
        self.worst: collections.Counter[str] = collections.Counter()
        self.longest: dict[str, float] = {}
        self.gc: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._gc_started = 0.0
        self.gc_sizes: list[int] = []

    def record(self, held: float, what: str) -> None:
        self.callbacks += 1
        index = 0
        while index < len(BOUNDS) and held > BOUNDS[index]:
            index += 1
        self.buckets[index] += 1
        if held >= LISTED:
            self.worst[what] += 1
            self.longest[what] = max(self.longest.get(what, 0.0), held)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            if info["generation"] == 2 and os.environ.get("WEDSYNC_LOOP_TRACE_GC_SIZE"):
                self.gc_sizes.append(sum(len(gc.get_objects(g)) for g in range(3)))
            self._gc_started = time.thread_time()
        else:
            self.gc[info["generation"]].append(time.thread_time() - self._gc_started)

    def dump(self, *_: Any) -> None:
        line = {
            "seconds": time.monotonic() - self.started,
            "callbacks": self.callbacks,
            "bounds": BOUNDS,
            "buckets": self.buckets,
            "worst": [(what, n, self.longest[what]) for what, n in self.worst.most_common(12)],
            "gc": {str(g): [len(p), sum(p), max(p, default=0.0)] for g, p in self.gc.items()},
            "gc_sizes": self.gc_sizes,
            # What a full pass walks now (frozen objects aside), by type.
            "oldest": collections.Counter(
                type(o).__name__ for o in gc.get_objects(2)).most_common(8),
        }
        with open(self.out, "a") as file:
            file.write(json.dumps(line) + "\n")
        self.reset()


def install() -> None:
    out = os.environ.get("WEDSYNC_LOOP_TRACE")
    if not out:
        return
    sys.meta_path.insert(0, _NoUvloop())  # type: ignore[arg-type]
    import asyncio.events

    tracer = Tracer(out)
    run = asyncio.events.Handle._run

    def traced(handle: asyncio.events.Handle) -> None:
        before = _describe(handle)
        started = time.thread_time()
        run(handle)
        held = time.thread_time() - started
        tracer.record(held, before if held < LISTED else f"{before} -> {_describe(handle)}")

    asyncio.events.Handle._run = traced  # type: ignore[method-assign]
    gc.callbacks.append(tracer.on_gc)
    signal.signal(signal.SIGUSR1, tracer.dump)
