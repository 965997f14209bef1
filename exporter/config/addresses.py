"""Addresses checked when the configuration is loaded, without touching the network.

The schema only says a URL is a string; a Redis URL without a scheme or an Auth URL with port
99999 would pass it and then break where the probe is built. Each is refused here with the key
path and what to write instead. The URL itself is never repeated (it may hold a password).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from exporter.components import REGISTRY
from exporter.config import model
from exporter.config.targets import TARGET_KINDS


class AddressError(ValueError):
    """An address that cannot be used; the message says what is wrong (no URL in it)."""


def url_problem(url: str, schemes: Sequence[str]) -> str | None:
    """Why ``url`` cannot be used with one of ``schemes``, or None."""
    expected = ", ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"the URL cannot be parsed ({exc})"
    if parts.scheme.lower() not in schemes:
        return f"the URL must start with one of {expected}"
    if parts.scheme.lower() == "unix":
        return None if parts.path else "a unix:// URL needs the socket's path"
    if not parts.hostname:
        return "the URL has no host name"
    try:
        port = parts.port
    except ValueError:
        return "the URL's port must be a number from 1 to 65535"
    if port == 0:
        return "the URL's port must be a number from 1 to 65535"
    return None


def dsn_problem(dsn: str) -> str | None:
    """Why libpq would refuse ``dsn`` before connecting, or None."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return ("the connection string is not a valid libpq URL or key=value string "
                "(e.g. postgresql://user@host:5432/dbname)")
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            return "the port must be a number from 1 to 65535"
    return None


def _where(config: model.Config, component: str, name: str, key: str) -> str:
    raw = config.raw.get(component) or []
    names = [item.get("name") for item in raw if isinstance(item, dict)]
    index = names.index(name) if name in names else "?"
    return f"{component}[{index}].{key}"


def check_addresses(config: model.Config) -> None:
    """AddressError naming the key path of the first address that cannot be used."""
    for target in config.database:
        problem = dsn_problem(target.dsn)
        if problem:
            raise AddressError(f"{_where(config, 'database', target.name, 'dsn')}: {problem}")
    # Every registered component whose settings kind has a URL, with the schemes its prober
    # speaks (a component added later is checked too).
    for component in REGISTRY:
        schemes = TARGET_KINDS[component.settings].url_schemes
        for target in config.targets(component.name) if schemes else ():
            problem = url_problem(getattr(target, "url", ""), schemes)
            if problem:
                raise AddressError(f"{_where(config, component.name, target.name, 'url')}: "
                                   f"{problem}")
    if config.alertmanager_url:
        problem = url_problem(config.alertmanager_url, ("http", "https"))
        if problem:
            raise AddressError(f"alertmanager.url: {problem}")
