"""Validation's settings: typed when the configuration loads (``config.validation``); the type
and the parser live in exporter/config so every default is the schema's."""

from exporter.config.model import ValidationSettings
from exporter.config.sections import validation_settings

__all__ = ["ValidationSettings", "validation_settings"]
