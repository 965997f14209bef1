"""Configuration: one YAML file, environment references, a JSON Schema, typed result."""

from exporter.config.loader import ConfigError, load_config, parse_config
from exporter.config.model import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]
