"""Moved to ``exporter.config.query_pack`` (the configuration fills built-in queries in when
it loads); kept so existing imports keep working."""

from exporter.config.query_pack import BUILTIN_NAMES, PACK_FILE, builtin_queries

__all__ = ["BUILTIN_NAMES", "PACK_FILE", "builtin_queries"]
