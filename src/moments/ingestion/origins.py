"""Allowed origins: the pages an environment takes beacons from (like an analytics site list).

The env key is public in every page that embeds the player, so anyone can send beacons with
it. An environment that lists its sites takes beacons only from requests whose `Origin`
(or, without one, `Referer`) is one of them. Browsers set both and scripts cannot change
them; a sender outside a browser can, so the list keeps other sites' pages and casual
scripts out, and the per-address budget bounds the rest. An empty list takes beacons from
anywhere, and so does a list for requests of native players, which send neither header,
only if it holds NO_ORIGIN.

A pattern is an origin (`https://example.com`, `http://localhost:8080`: scheme, host and
port must match), a host (`example.com`: any scheme and port), or a host's subdomains
(`*.example.com`: not the host itself).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

NO_ORIGIN = "none"  # the pattern that admits requests without Origin and Referer
MAX_PATTERNS = 100
_LABELS = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
_ORIGIN = re.compile(rf"https?://{_LABELS}(?::\d{{1,5}})?")
_HOSTS = re.compile(rf"(?:\*\.)?{_LABELS}")


class BadPattern(ValueError):
    pass


def parse_patterns(texts: list[str]) -> tuple[str, ...]:
    """Patterns as stored: lower case, without duplicates; BadPattern names the first bad one."""
    patterns: list[str] = []
    for text in texts:
        pattern = text.strip().lower().rstrip("/") if isinstance(text, str) else ""
        if not (pattern == NO_ORIGIN or _ORIGIN.fullmatch(pattern) or _HOSTS.fullmatch(pattern)):
            raise BadPattern(f"{text!r} is not an origin (https://example.com), a host (example.com), "
                             f"subdomains (*.example.com) or {NO_ORIGIN!r}")
        if pattern not in patterns:
            patterns.append(pattern)
    if len(patterns) > MAX_PATTERNS:
        raise BadPattern(f"at most {MAX_PATTERNS} allowed origins")
    return tuple(patterns)


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """The requesting page's origin, lower case ("scheme://host[:port]"), or None."""
    for value in (origin, referer):
        if value and value != "null":
            parts = urlsplit(value.strip().lower())
            if parts.scheme in ("http", "https") and parts.netloc:
                return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    return None


def allowed(origin: str | None, patterns: tuple[str, ...]) -> bool:
    """Whether a request from `origin` (request_origin) may send beacons under `patterns`."""
    if not patterns:
        return True
    if origin is None:
        return NO_ORIGIN in patterns
    host = urlsplit(origin).hostname or ""
    return any(_matches(origin, host, pattern) for pattern in patterns)


def _matches(origin: str, host: str, pattern: str) -> bool:
    if "://" in pattern:
        return origin == pattern
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
