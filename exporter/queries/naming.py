"""Moved to ``exporter.config.query_naming`` (the configuration checks query names when it
loads); kept so existing imports keep working."""

from exporter.config.query_naming import (
    LABEL_NAME_PATTERN,
    METRIC_NAME_PATTERN,
    NamingError,
    query_families,
)

__all__ = ["LABEL_NAME_PATTERN", "METRIC_NAME_PATTERN", "NamingError", "query_families"]
