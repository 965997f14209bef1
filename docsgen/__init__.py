"""Generates the reference documents under docs/reference/ from code: metrics from the
catalogue, configuration from the JSON Schema, alerts from the rules. A test rebuilds them and
fails on any difference."""
