"""Route normalisation: raw request paths become a bounded set of route labels.

Order: the query string and fragment are dropped (a full URL keeps only its path), empty
segments collapse, configured templates are tried first (``/api/clients/:id`` — a ``:name``
segment matches any one segment, a final ``*`` the rest), then each segment that looks like an
identifier becomes a placeholder: ``:id`` (digits), ``:uuid``, ``:email``, ``:token`` (long hex,
or a long base64/base64url/JWT-like string that mixes letters and digits). Segments are
percent-decoded to classify them and re-encoded for the label, so a route is printable ASCII
whatever bytes the client sent. Methods outside the standard set become ``other``.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import quote, unquote, urlsplit

OTHER = "other"
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Longest route label kept; longer ones fold into `other` (performance_logs holds 200).
MAX_ROUTE_LENGTH = 200
# Literal segments, and path skeletons, remembered with their labels (each memo bounded).
MEMO_SIZE = 20_000

_NUMBER_SEGMENT = re.compile(r"(?<=/)[0-9]+(?=/|$)")
_UUID_SEGMENT = re.compile(r"(?<=/)[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                           r"[0-9a-fA-F]{12}(?=/|$)")
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[^@\s/.]+")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
_BASE64ISH = re.compile(r"[A-Za-z0-9_\-+=.~]{20,}")
# Characters kept as they are in a label; everything else is percent-encoded.
_SAFE = "!$&'()*+,;=:@-._~"


def _looks_like_token(segment: str) -> bool:
    """Long random-looking strings: mixed case with digits, or at least a quarter digits.

    Long lower-case slugs (``wedding-checklist-2024``) stay as they are."""
    if _HEX.fullmatch(segment):
        return True
    if not _BASE64ISH.fullmatch(segment):
        return False
    digits = sum(c.isdigit() for c in segment)
    if digits < 2:
        return False
    mixed_case = any(c.isupper() for c in segment) and any(c.islower() for c in segment)
    return mixed_case or digits * 4 >= len(segment)


def placeholder(segment: str) -> str | None:
    """The placeholder a decoded path segment stands for, or None if it is a literal."""
    if segment.isdigit() and segment.isascii():
        return ":id"
    if len(segment) == 36 and _UUID.fullmatch(segment):
        return ":uuid"
    if "@" in segment and _EMAIL.fullmatch(segment):
        return ":email"
    if len(segment) >= 16 and _looks_like_token(segment):
        return ":token"
    return None


def _path(endpoint: str) -> str:
    """The path part: no scheme and host, no query string, no fragment."""
    path = endpoint
    if "://" in path and _ABSOLUTE.match(path):
        # A malformed host (e.g. "http://[::1/x") raises: keep the text as a path then.
        with contextlib.suppress(ValueError):
            path = urlsplit(path).path
    for mark in ("?", "#"):
        if mark in path:
            path = path.split(mark, 1)[0]
    return path


def _decode(segment: str) -> str:
    return unquote(segment, errors="replace") if "%" in segment else segment


def segment_label(raw: str) -> str:
    """The label text of one raw path segment: a placeholder, or the segment re-encoded."""
    if _PLAIN.fullmatch(raw):  # the common case: nothing to decode or encode
        return placeholder(raw) or raw
    segment = _decode(raw)
    return placeholder(segment) or quote(segment, safe=_SAFE, errors="backslashreplace")


class Template:
    """One configured route template, e.g. ``/api/clients/:id`` or ``/api/files/*``."""

    def __init__(self, text: str) -> None:
        parts = [p for p in text.split("/") if p]
        self.rest = bool(parts) and parts[-1] == "*"
        self.parts = parts[:-1] if self.rest else parts
        self.route = "/" + "/".join(parts)

    def matches(self, segments: list[str]) -> bool:
        if len(segments) < len(self.parts) or (not self.rest and len(segments) != len(self.parts)):
            return False
        return all(p.startswith(":") or p == s for p, s in zip(self.parts, segments, strict=False))


class RouteNormaliser:
    """Maps raw endpoints to route labels."""

    def __init__(self, templates: tuple[str, ...] = ()) -> None:
        self.templates = tuple(Template(t) for t in templates)
        # Literal segments and their labels (identifiers are not kept: they rarely repeat).
        self._segments: dict[str, str] = {}
        # Path skeletons (numbers and UUIDs already replaced) and their routes.
        self._routes: dict[str, str] = {}

    def __call__(self, endpoint: str) -> str:
        return self.normalise(endpoint)

    def normalise(self, endpoint: str) -> str:
        """The route label for ``endpoint`` (``other`` when it would be too long)."""
        path = _path(endpoint)
        if self.templates:
            segments = [_decode(segment) for segment in path.split("/") if segment]
            for template in self.templates:
                if template.matches(segments):
                    return template.route
        # Numbers and UUIDs are replaced in one C-speed pass; the rest of the path (its
        # "skeleton") usually repeats, so its label is remembered.
        skeleton = _NUMBER_SEGMENT.sub(":id", path)
        if "-" in skeleton:
            skeleton = _UUID_SEGMENT.sub(":uuid", skeleton)
        route = self._routes.get(skeleton)
        if route is None:
            if len(self._routes) >= MEMO_SIZE:
                self._routes.clear()
            route = self._routes[skeleton] = self._label(skeleton)
        return route

    def _label(self, path: str) -> str:
        memo = self._segments
        labelled = []
        for segment in path.split("/"):
            if not segment:
                continue
            label = memo.get(segment)
            if label is None:
                label = segment_label(segment)
                # Literal segments repeat ("api", "clients"); identifiers rarely do.
                if not label.startswith(":") and len(memo) < MEMO_SIZE:
                    memo[segment] = label
            labelled.append(label)
        route = "/" + "/".join(labelled)
        return route if len(route) <= MAX_ROUTE_LENGTH else OTHER


def method_label(method: str) -> str:
    """The method label: upper-cased if standard, else ``other``."""
    upper = method.upper()
    return upper if upper in STANDARD_METHODS else OTHER
