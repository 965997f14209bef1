"""The one error a configuration can raise."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why in one sentence."""
