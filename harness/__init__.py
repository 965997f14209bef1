"""Runs the stack's parts on one machine: throwaway PostgreSQL and Redis servers, the exporter,
(and, from the stack harness, Prometheus and Alertmanager) on free loopback ports."""
