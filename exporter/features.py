"""Imports every feature module so its probes and routes register themselves."""

from exporter import runtime  # noqa: F401 - database and Redis probes
