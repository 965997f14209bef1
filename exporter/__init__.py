"""WedSync exporter: background probes of the platform's dependencies, served to Prometheus."""

__version__ = "0.1.0"
