"""The domain objects every layer shares: environments, tokens, assets and views."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Scope(str, Enum):
    """Which identifier an engagement query selects views by."""

    ASSET = "asset"
    VIDEO = "video"
    PLAYBACK_ID = "playback_id"


PERMISSIONS = ("read", "write", "admin")


@dataclass(frozen=True)
class Environment:
    environment_id: str
    name: str
    env_key: str
    retention_days: int = 100
    rate_limit_per_s: float = 5.0
    rate_limit_burst: int = 20
    allowed_origins: tuple[str, ...] = ()  # pages beacons may come from (ingestion/origins.py); () = any


@dataclass(frozen=True)
class Token:
    token_id: str
    environment_id: str
    secret_hash: str
    permissions: tuple[str, ...]

    def allows(self, permission: str) -> bool:
        # admin implies write, write implies read. A name this version does not know grants
        # nothing (and must not turn a permission check into a 500).
        rank = PERMISSIONS.index(permission)
        return any(p in PERMISSIONS and PERMISSIONS.index(p) >= rank for p in self.permissions)


@dataclass(frozen=True)
class Chapter:
    """A named stretch of an asset, as Mux Player's addChapters takes it (in ms here)."""

    start_ms: int
    end_ms: int | None  # None: until the next chapter starts, or the content ends
    title: str


@dataclass(frozen=True)
class Asset:
    asset_id: str
    duration_ms: int | None
    playback_ids: tuple[str, ...] = ()
    playback_url: str | None = None
    chapters: tuple[Chapter, ...] = ()  # by start, none overlapping


# The dimensions a view has a field for (a store row, a column; the SQL schemas declare the same),
# and Mux's custom dimensions, as the beacons and the import format name them (in View.dimensions).
DIMENSIONS = ("country", "browser", "os", "device_type", "player_name")
CUSTOM_FIELDS = tuple(f"custom_{i}" for i in range(1, 21))


@dataclass(frozen=True)
class View:
    """One viewing session, as imported or assembled from player beacons.

    `ranges` are the watched (start_ms, end_ms) pairs of media time exactly as the
    player reported them: possibly overlapping and unsorted (rewatches).
    """

    view_id: str
    view_start_ms: int
    duration_ms: int
    ranges: tuple[tuple[int, int], ...]
    asset_id: str | None = None
    playback_id: str | None = None
    video_id: str | None = None
    view_end_ms: int | None = None
    sdk_name: str | None = None
    sdk_version: str | None = None
    country: str | None = None
    browser: str | None = None
    os: str | None = None
    device_type: str | None = None
    player_name: str | None = None
    reports_ranges: bool = True  # counts for engagement: false for too-old SDKs and live content
    dimensions: dict[str, str] = field(default_factory=dict)
    last_event_ms: int | None = None  # client time of the latest beacon event


@dataclass(frozen=True)
class BeaconEvent:
    """One mux-embed event with long key names, identified by (view_id, sequence)."""

    view_id: str
    sequence: int  # view_sequence_number
    name: str  # the event name, e.g. "viewstart"
    fields: dict


@dataclass(frozen=True)
class RangeSet:
    """The watched ranges of many views as flat arrays, the engagement engine's input.

    Range k belongs to view `view_index[k]` (0..n_views-1) and covers
    [starts[k], ends[k]) ms of media time. `reported_durations_ms[v]` is the content
    duration view v's player reported.
    """

    n_views: int
    view_index: "np.ndarray"
    starts: "np.ndarray"
    ends: "np.ndarray"
    reported_durations_ms: "np.ndarray"
