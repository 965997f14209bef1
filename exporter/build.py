"""Build everything one configuration needs, without touching the network.

Used by the service (start and reload) and by ``check-config``: a configuration that passes
the schema but cannot be built (a library refusing a URL, say) is a one-line ConfigError, not
a traceback, and a reload into it keeps the running probes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from exporter.clock import Clock, utc_now
from exporter.config import Config, ConfigError
from exporter.logs import Redactor
from exporter.metrics.store import MetricStore
from exporter.runtime import Runtime


class BuildError(ConfigError):
    """The configuration is valid but its probes or jobs cannot be built.

    ``runtime`` is what was built before the failure: close it, and forget its series.
    """

    def __init__(self, message: str, runtime: Runtime) -> None:
        super().__init__(message)
        self.runtime = runtime


def build_runtime(config: Config, store: MetricStore, clock: Clock = utc_now,
                  **runtime_args: Any) -> Runtime:
    """A runtime with every pool, probe and job of ``config`` constructed (nothing runs);
    ``runtime_args`` go to ``Runtime`` as they are."""
    runtime = Runtime(config, store, clock, **runtime_args)
    try:
        runtime.build()
    except ConfigError as exc:
        raise BuildError(str(exc), runtime) from None
    except Exception as exc:  # any library's refusal of a value it was given
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise BuildError(f"config error: the configuration cannot be built: "
                         f"{Redactor(config.secrets)(text)}", runtime) from None
    return runtime


async def check_buildable(config: Config, **runtime_args: Any) -> None:
    """Build ``config``'s runtime on a throwaway store and close it; BuildError if it fails."""
    try:
        runtime = build_runtime(config, MetricStore(), **runtime_args)
    except BuildError as exc:
        await exc.runtime.close()
        raise
    await runtime.close()


def check_buildable_now(config: Config, **runtime_args: Any) -> None:
    """``check_buildable`` from synchronous code (the command line)."""
    asyncio.run(check_buildable(config, **runtime_args))
