"""Ingestion's settings: typed when the configuration loads (``config.ingestion``); the types
and the parser live in exporter/config so every default is the schema's."""

from exporter.config.model import IngestionSettings, TailSettings
from exporter.config.sections import ingestion_settings

__all__ = ["IngestionSettings", "TailSettings", "ingestion_settings"]
