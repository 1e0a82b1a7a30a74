"""The one interface every storage backend implements.

The engagement and API layers only ever talk to a `Store`; a backend owns its schema,
its migrations and its query language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np
import pyarrow as pa

from moments.filters import Filters
from moments.model import Asset, Environment, RangeSet, Scope, Token, View


@dataclass(frozen=True)
class ViewQuery:
    """Which views count for one engagement query."""

    environment_id: str
    scope: Scope
    scope_id: str
    start_ms: int  # view start >= start_ms
    end_ms: int  # view start < end_ms
    # A view without an end counts when its latest update arrived before this time.
    idle_before_ms: int
    filters: Filters = ()  # only views matching these (moments.filters)


@dataclass(frozen=True)
class Coverage:
    """A scope's coverage on one bucket grid: pre-summed rollups plus views read raw."""

    n_views: int  # views summed in `watched` (and in `landed`, `present`)
    watched: np.ndarray  # B * watched ms per bucket, exact int64 (engagement.heatmap.watched_scaled)
    raw: RangeSet  # the other counted views, to be computed on the same grid
    # The other layers of engagement.heatmap.coverage_layers, summed like `watched` (None
    # unless asked for: Store.coverage's `layers`): B * ms watched after arriving mid-way, and
    # B * ms between each view's first watched moment and its last.
    landed: np.ndarray | None = None
    present: np.ndarray | None = None


@dataclass(frozen=True)
class Grid:
    """The bucket grid an id's heatmap uses: its duration, and whether it is the registered one."""

    duration_ms: int
    registered: bool


class Store(Protocol):
    def create_environment(self, environment: Environment) -> None: ...
    def get_environment(self, environment_id: str) -> Environment | None: ...
    def set_allowed_origins(self, environment_id: str, origins: Sequence[str]) -> None:
        """Replace the environment's allowed origins (ingestion/origins.py patterns)."""

    def environment_by_env_key(self, env_key: str) -> Environment | None: ...
    def environments(self) -> list[Environment]: ...

    def create_token(self, token: Token, created_at_ms: int | None = None) -> None:
        """Store a new token, created now (or at `created_at_ms`: a copied one, `moments copy`)."""

    def get_token(self, token_id: str) -> Token | None: ...
    def tokens(self, environment_id: str) -> list[tuple[Token, int]]:
        """The environment's tokens with their creation times (epoch ms), oldest first."""

    def set_token_secret(self, token_id: str, secret_hash: str) -> None:
        """Give a token a new secret (accounts.rotate_token): the old one stops working."""

    def store_secret(self, name: str) -> str:
        """A random value the store keeps under `name`, made on first use and the same for every
        process using the store afterwards; never served."""

    def delete_token(self, token_id: str) -> None:
        """Revoke a token: requests signed with it are refused from then on."""

    def put_asset(self, environment_id: str, asset: Asset) -> None: ...
    def get_asset(self, environment_id: str, asset_id: str) -> Asset | None: ...
    def asset_for_playback_id(self, environment_id: str, playback_id: str) -> Asset | None: ...

    def upsert_views(self, environment_id: str, views: Sequence[View], received_at_ms: int) -> set[str]:
        """Store imported views; a view_id already present is replaced as a whole, unless it is
        a beacon view: those are left as they are, and their ids returned."""

    def bulk_upsert_views(self, table: pa.Table) -> set[str]:
        """upsert_views of an Arrow table of VIEW_COLUMNS (one environment, unique view_ids), each
        row's received_at_ms and last_event_ms as given (imports, `moments copy`)."""

    def get_view(self, environment_id: str, view_id: str) -> View | None: ...

    def scope_exists(self, environment_id: str, scope: Scope, scope_id: str) -> bool:
        """True when the id is known in this environment (registered, or seen on a view)."""

    def assets_of_video(self, environment_id: str, video_id: str, limit: int) -> list[str]:
        """Up to `limit` ids of the assets the video id's stored views play: each view's asset_id,
        else the registered asset of its playback ID (one id: the video maps to that asset)."""

    def list_scope_ids(self, environment_id: str, scope: Scope, search: str | None, limit: int) -> list[tuple[str, int]]:
        """Known ids of one kind (registered or seen on views) with their view counts, most viewed first."""

    def scope_durations(self, environment_id: str, scope: Scope, min_ms: int, max_ms: int,
                        limit: int) -> list[tuple[str, int, int]]:
        """(id, duration_ms, views) of the ids of one kind whose duration lies in [min_ms, max_ms],
        most viewed first (then by id), at most `limit`: the peers a relative-retention query
        compares with. Duration: the registered one (assets, and playback IDs of a registered
        asset), else the median of what the id's stored views reported (lower and upper middle
        averaged, rounded down). Views: those carrying the id, as in list_scope_ids."""

    def view_ranges(self, query: ViewQuery) -> RangeSet:
        """Watched ranges of all the views that count for engagement under `query` (no rollups)."""

    def list_views(self, query: ViewQuery, limit: int, after: tuple[int, str] | None, max_ranges: int) -> list[View]:
        """Up to `limit` of the views that count under `query` (the same ones as view_ranges), newest
        first by (view_start_ms, view_id) descending; `after`: that pair of the previous page's last view.
        The list stops after the view that brings its ranges to `max_ranges` or more."""

    def count_views(self, query: ViewQuery) -> int:
        """How many views count under `query`."""

    def export_views(self, environment_id: str, start_ms: int, end_ms: int, scope: Scope | None = None,
                     scope_id: str | None = None, filters: Filters = (),
                     batch_rows: int = ..., in_progress: bool = False) -> Iterator[pa.Table]:
        """The completed views (view_end_ms set) that started in [start_ms, end_ms), of one scope
        (None: all of the environment's) and matching `filters`, as tables of VIEW_COLUMNS
        (store/duckdb.py) of at most `batch_rows` rows, oldest first by (view_start_ms, view_id).
        `in_progress`: the views still in progress too (`moments copy`).
        Lazy: each table is read when asked for, so an export holds one batch in memory."""

    def duration_histogram(self, query: ViewQuery) -> list[tuple[int, int]]:
        """(reported duration, views) over the views that count under `query`."""

    def duration_histograms(self, query: ViewQuery, scope_ids: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        """duration_histogram of `query` with each of `scope_ids` for its scope_id (ids without
        counted views may be left out), in a few queries whatever the number of ids."""

    def registered_durations(self, environment_id: str, scope: Scope, scope_ids: Sequence[str]) -> dict[str, int | None]:
        """The registered duration of those ids that have a registered asset (assets; playback IDs
        of one), as stats.registered_duration gives it one id at a time; videos have none."""

    def coverage(self, query: ViewQuery, duration_ms: int, registered: bool, *, layers: bool = False) -> Coverage:
        """The counted views' coverage on the grid of `duration_ms`, from rollups where they hold it.

        `registered`: the duration is the scope's registered one (rows hold every view),
        rather than the median of reported durations (rows hold the views that reported it).
        `layers`: the rollup sums of `landed` and `present` too (else None, and only the
        watched layer's rows are read); the views read raw are the same either way.
        """

    def coverages(self, query: ViewQuery, grids: Mapping[str, Grid], *, layers: bool = False) -> dict[str, Coverage]:
        """coverage of `query` with each id of `grids` for its scope_id, on that id's grid, in a
        few queries whatever the number of ids (the peers of a relative-retention query)."""

    def data_version(self, environment_id: str) -> int | None:
        """A counter every write of the environment's data moves, or None when writes
        elsewhere cannot be seen."""

    def expire(self, now_ms: int) -> int:
        """Delete what is older than each environment's retention; the number of views removed."""

    def finalize_idle_views(self, idle_before_ms: int) -> int:
        """Close views without an end whose latest update arrived before the cutoff."""

    def view_folds(self, environment_id: str, view_ids: Sequence[str]) -> dict[str, str]:
        """The stored folds (ingestion.folds.ViewFold.to_json) of those of these beacon views that have one."""

    def upsert_beacon_views(self, environment_id: str, views: Sequence[View], folds: Sequence[str],
                            received_at_ms: Sequence[int]) -> set[str]:
        """Store beacon views with their folds (views[i] goes with folds[i] and was last
        received at received_at_ms[i]); a view_id already present is replaced as a whole,
        unless it is an imported view: those are left as they are, and their ids returned."""

    @property
    def local_path(self) -> str | None:
        """A local file or folder the store lives in (the beacon journal's default home), or None."""

    def close(self) -> None: ...


class InboxRow(NamedTuple):
    """A beacon journal record in the shared inbox (BeaconInbox)."""

    source: str  # the journal it comes from, named for good (ingestion.journal.source_id)
    seq: int  # its end in that journal (ingestion.journal.Position.seq): increasing, a byte offset within a segment
    at_ms: int  # when the journal took it
    payload: bytes  # ingestion.collector.Routed.payload


class InboxBacklog(NamedTuple):
    """What waits in the inbox past the saved cursors (a row forwarded twice counts twice
    until the engine merges the copies)."""

    rows: int
    payload_bytes: int
    oldest_at_ms: int | None


@runtime_checkable
class BeaconInbox(Protocol):
    """A store that several processes (machines) write beacons to at once (ClickHouse).

    Each process forwards its journals' records to the inbox (at least once: a record sent
    again has the same (source, seq)); one process at a time, the holder of the assembly
    lease, applies them past per-source cursors and runs housekeeping, so beacon views,
    their folds and rollups have one writer.
    """

    def inbox_append(self, rows: Sequence[InboxRow]) -> None:
        """Store rows in the inbox, visible to every process when this returns."""

    def inbox_cursors(self) -> dict[str, int]:
        """Per source, the seq up to which its rows are applied (saved by inbox_advance)."""

    def inbox_read(self, after: dict[str, int], max_bytes: int) -> list[InboxRow]:
        """Rows past `after` (absent source: from its first row), ordered by (source, seq), of
        each source those within about `max_bytes` of journal past its first such row."""

    def inbox_advance(self, cursors: dict[str, int]) -> None:
        """Save cursors (call it once the rows up to them are applied); a cursor never moves back."""

    def inbox_prune(self, cursors: dict[str, int]) -> None:
        """Delete the rows at or before these cursors."""

    def inbox_backlog(self) -> InboxBacklog:
        """What the inbox holds past the saved cursors."""

    @property
    def assembly_lease_ms(self) -> int:
        """How long the assembly lease lasts from a successful assembly_lease()."""

    def assembly_lease(self) -> bool:
        """Take or renew the assembly lease; True while this store holds it, for assembly_lease_ms
        from the call (by the clocks of the machines, which must agree within seconds)."""

    def release_assembly_lease(self) -> None:
        """Give the lease up now (a clean stop), so another process takes over at once."""


NO_ONLINE_BACKUP = ("this store has no online backup: a ClickHouse store has its own BACKUP, and chdb's folder "
                    "is copied with the server stopped (docs/deploy.md, Backups)")


@runtime_checkable
class OnlineBackup(Protocol):
    """A store that copies itself into a file while it serves (DuckDB: POST /v1/backup,
    `moments backup`). ClickHouse has its own BACKUP (docs/deploy.md)."""

    def backup(self, path: str) -> None:
        """Write a consistent copy of the whole store to a new file at `path` (FileExistsError
        if it exists, OSError if it cannot be written), while reads and writes go on."""
