"""Which player SDK versions report the playback ranges engagement needs (Mux changelog)."""

from __future__ import annotations

import re

# sdk_name (as players and imports name them) -> first version that reports ranges.
MINIMUM_VERSIONS: dict[str, tuple[int, ...]] = {
    "mux-embed": (5, 15, 0),
    "mux-player": (3, 11, 0),
    "mux-player-android": (1, 5, 3),
    "mux-stats-sdk-media3": (1, 11, 1),
    "mux-stats-sdk-objc": (5, 11, 0),
    "mux-stats-sdk-java": (8, 9, 0),
    "roku-mux": (2, 6, 0),
}


def parse_version(text: str) -> tuple[int, ...] | None:
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


def is_known_sdk(name: str) -> bool:
    return _normalise(name) in MINIMUM_VERSIONS


def reports_ranges(sdk_name: str | None, sdk_version: str | None) -> bool:
    """False only for a known SDK older than its minimum (or with an unreadable version)."""
    if not sdk_name:
        return True
    minimum = MINIMUM_VERSIONS.get(_normalise(sdk_name))
    if minimum is None:
        return True
    version = parse_version(sdk_version or "")
    return version is not None and version >= minimum
