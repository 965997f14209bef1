"""Grafana dashboards as code (grafanalib): seven dashboards, from the wedding-day overview down
to the exporter's own health.

``python -m dashboards build`` writes ``grafana/dashboards/*.json``; ``python -m dashboards
check`` fails when they differ from the code. grafanalib's output is normalised to current
Grafana's schema (``dashboards.normalise``) before it is written. Metric names come from
``exporter.catalogue``, the recording rules of ``alerts/`` and the k6 remote-write series of
``loadtests.metrics``; see docs/dashboards.md.
"""
