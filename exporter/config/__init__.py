"""Configuration: one YAML file, environment references, a JSON Schema, typed result."""

from exporter.config.errors import ConfigError
from exporter.config.loader import load_config, parse_config
from exporter.config.model import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]
