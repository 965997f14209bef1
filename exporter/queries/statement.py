"""Moved to ``exporter.config.query_statement`` (the configuration refuses a statement that is
not one read-only query when it loads); kept so existing imports keep working."""

from exporter.config.query_statement import PARAMETERS, StatementError, check_statement, limited

__all__ = ["PARAMETERS", "StatementError", "check_statement", "limited"]
