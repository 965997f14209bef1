"""Metric state and its rendering for /metrics."""
