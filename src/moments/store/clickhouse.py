"""The ClickHouse store: the same `Store` on a ClickHouse server, cluster or chdb.

SQL designed for ClickHouse (schema in store/schema/clickhouse.sql, docs/clickhouse.md):

- Views are stored once per scope they are looked up by (the view itself, its asset, its
  playback ID, its video), ordered by (environment, scope, scope id, view start), so an
  engagement query reads one key range per scope. ReplacingMergeTree(version, deleted)
  with FINAL at query time: a replaced view's newest rows win right after the write,
  whether or not the engine merged; rows whose key changed get tombstones.
- Rollups are computed here (store/rollups.py, exact integers) and inserted as deltas: a
  replaced view inserts its old share negated. The AggregatingMergeTree sums rows of one
  key when it merges, and queries sum them (sum, sumMap), so no merge is needed for a
  right answer and no row is ever updated in place.
- Several `moments` processes may share a ClickHouse server: nothing mutable is cached then
  (`data_version()` is None, so responses are not cached either); every process forwards
  its beacons to a shared inbox, and one process at a time (the holder of the assembly
  lease) applies them and runs housekeeping (store/base.py, BeaconInbox).
- A chdb folder is opened by one process only (the engine locks it), which so sees every
  write: opened by `open_store`, it is the `owner` and caches like the DuckDB store, assets
  and reads that follow its writes (store/followed.py), each write moving a data version.

Every statement goes through an executor (store/executor.py): chdb in-process, or
clickhouse-connect over HTTP.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import re
import secrets
import threading
import time
import uuid
from importlib import resources
from typing import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.engagement.heatmap import bucket_count
from moments.filters import Filters
from moments.model import Asset, BeaconEvent, Environment, RangeSet, Scope, Token, View
from moments.store import rollups
from moments.store.base import Coverage, Grid, InboxBacklog, InboxRow, ViewQuery
from moments.store.executor import Executor
from moments.store.filtering import filter_conditions
from moments.store.followed import (ALWAYS_IDLE, FollowedReads, Pending, ReadPrefixes, SumsKey, counted_content,
                                    summed_coverages)
from moments.store.following import Views
from moments.store.lru import LOOKUP_CACHE_ENTRIES, LRUCache
from moments.store.paging import EXPORT_BATCH_ROWS, KEYSET_AFTER, KEYSET_BEFORE, budgeted_page_sql, keyset_pages
from moments.store.pieces import Piece, range_set_from_arrow
from moments.store.prefix import RollupPrefix
from moments.store.rows import (ENVIRONMENT_COLUMNS, VIEW_COLUMNS, VIEW_SCHEMA, as_views, chapters_from_text,
                                chapters_to_text, environment_of, views_from_arrow, views_to_arrow, without_views)

_STR, _I64 = pa.string(), pa.int64()
ROW_COLUMNS = ", ".join(VIEW_COLUMNS)
# The scopes a view is stored under, with the column that holds its id there.
SCOPES = (("view", "view_id"), ("asset", "asset_id"), ("playback_id", "playback_id"), ("video", "video_id"))
LOOKUP_CHUNK = 50_000  # view ids per lookup query
# Many view ids go into a query as a subquery's set, not as an IN literal: the engine's analysis
# of a large IN literal turns pathological on some key distributions (measured on chdb: 50,000
# new ids among 1e6 stored took 127-173 s as a literal, 0.1 s as a subquery, index still used).
VIEW_IDS = "(SELECT arrayJoin({ids:Array(String)}))"
GRAINS = (rollups.PARTITION_MS, 3_600_000, 86_400_000)  # rollup rows: 5 minutes, hours, days
ROLLUP_INSERT_KEYS = 4_096  # rollup rows per insert (each up to B (bucket, step) pairs per layer)
# Slice rows at 5 minutes like the others: the hour and day rows keep them few to sum.
SLICE_PARTITION_MS = rollups.PARTITION_MS
FOLDS_VERSION = 2  # the schema version that replaced stored beacon events by view folds
STEPS_VERSION = 6  # the schema version whose rollup rows (rollup_steps) hold steps, every layer
# Rebuilding the rows of a database from before STEPS_VERSION adds deltas, which must not be
# added twice: processes starting together take turns under this lease. It is renewed after
# each environment, so one environment's rebuild must take less than this.
MIGRATION_LEASE = "migration"
MIGRATION_LEASE_MS = 600_000
# The assembly lease: one process at a time applies beacons and runs housekeeping (writes
# beacon views). Renewed as it works; another process takes over this long after the holder stops.
ASSEMBLY_LEASE = "assembly"
ASSEMBLY_LEASE_MS = 30_000
FINALIZE_CHUNK = 10_000  # idle views closed per round (a few seconds of work at most)
# On a shared database, a token revoked or rotated by another process stops working within this.
TOKEN_RECHECK_S = 5.0

_PARAM = re.compile(r"\{(\w+):")


def migrations() -> list[tuple[int, list[str]]]:
    """(version, statements) blocks of store/schema/clickhouse.sql, in order."""
    text = resources.files("moments.store.schema").joinpath("clickhouse.sql").read_text()
    # Comments go (they may hold ";"); the schema has no "--" inside a string.
    text = "\n".join(line if line.startswith("-- migration") else line.split("--")[0] for line in text.splitlines())
    parts = re.split(r"^-- migration (\d+)\s*$", text, flags=re.MULTILINE)
    return [(int(parts[i]), [s.strip() for s in parts[i + 1].split(";") if s.strip()])
            for i in range(1, len(parts), 2)]


class ClickHouseStore:
    def __init__(self, executor: Executor, lease_settle_s: float = 0.5,
                 assembly_lease_ms: int = ASSEMBLY_LEASE_MS, owner: bool = False) -> None:
        """`owner`: this store is the only writer of the database (a chdb folder opened by
        `open_store`), so it may cache what it writes."""
        self._x = executor
        self.engine_version = executor.engine_version
        self.lease_settle_s = lease_settle_s
        self._assembly_lease_ms = assembly_lease_ms
        self._holder = f"{os.uname().nodename}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._clock_lock = threading.Lock()
        self._last_version = 0
        # Shared: only what never changes once written is cached, environments and tokens
        # (bounded). An owner caches assets and known ids too, and reads that follow its writes.
        self._environments: LRUCache[tuple[str, str], Environment | None] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._tokens: LRUCache[str, tuple[Token, float]] = LRUCache(LOOKUP_CACHE_ENTRIES)  # with when it was read
        self._follow = FollowedReads() if owner else None
        self._assets: LRUCache[tuple[str, str, str], Asset | None] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._known_ids: LRUCache[tuple[str, Scope, str], bool] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._migrate()

    def _migrate(self) -> None:
        self._x.command("CREATE TABLE IF NOT EXISTS schema_version (version UInt32, applied_at_ms Int64) "
                        "ENGINE = MergeTree ORDER BY version")
        current = self._schema_version()
        for version, statements in migrations():
            if version <= current:
                continue
            for statement in statements:
                self._x.command(statement)
            if version == FOLDS_VERSION:
                self._fold_stored_events()
            if version == STEPS_VERSION:
                self._rebuild_as_steps()
            self._x.command("INSERT INTO schema_version VALUES ({v:UInt32}, {now:Int64})",
                            {"v": version, "now": _now_ms()})

    def _schema_version(self) -> int:
        return self._x.query("SELECT max(version) AS v FROM schema_version")["v"][0].as_py() or 0

    def _rebuild_as_steps(self) -> None:
        """Write the rows of a database from before STEPS_VERSION (coverage values in `rollups`,
        every layer since version 5, only `watched` before) as steps in rollup_steps: every
        environment's rows are brought to what its views give, by deltas (rebuild_rollups), then
        `rollups` is emptied. Deltas added twice would count twice, so this runs in one process at
        a time (a lease); a process whose turn comes after another one recorded the version has
        nothing left to do. A rebuild cut short is finished by the next one: it adds what is
        still missing."""
        if self._x.query("SELECT count() AS n FROM rollups")["n"][0].as_py() == 0:
            return  # a new database (or one already rebuilt): every row is written as steps
        while not self._lease(MIGRATION_LEASE, MIGRATION_LEASE_MS):
            time.sleep(1)
        try:
            if self._schema_version() >= STEPS_VERSION:
                return
            for environment in self.environments():
                self.rebuild_rollups(environment.environment_id)
                self._lease(MIGRATION_LEASE, MIGRATION_LEASE_MS)
            self._x.command("TRUNCATE TABLE rollups")
        finally:
            self._claim(MIGRATION_LEASE, 0)  # given up: a process waiting goes on at once

    def _fold_stored_events(self) -> None:
        """Fold each beacon view's stored events into a view_folds row, then drop the events."""
        from moments.ingestion.folds import fold_events  # the one place the store folds: this migration

        rows = self._x.query(
            "SELECT environment_id, view_id, groupArray(sequence) AS sequences, groupArray(event) AS names, "
            "groupArray(fields) AS fields, max(retention_days) AS retention_days "
            "FROM (SELECT * FROM beacon_events FINAL) GROUP BY environment_id, view_id").to_pylist()
        version = self._version()
        for row in rows:
            fold = fold_events(BeaconEvent(row["view_id"], sequence, name, json.loads(fields))
                               for sequence, name, fields in zip(row["sequences"], row["names"], row["fields"]))
            self._insert_folds(row["environment_id"], [row["view_id"]], [fold.to_json()], version,
                               row["retention_days"])
        self._x.command("DROP TABLE IF EXISTS beacon_events")

    def _insert_folds(self, environment_id: str, view_ids: list[str], folds: Sequence[str], version: int,
                      retention_days: int) -> None:
        n = len(view_ids)
        self._x.insert("view_folds", pa.table({
            "environment_id": pa.array([environment_id] * n, _STR), "view_id": pa.array(view_ids, _STR),
            "fold": pa.array(list(folds), _STR), "version": pa.array([version] * n, pa.uint64()),
            "stored_at_ms": pa.array([_now_ms()] * n, _I64), "retention_days": pa.array([retention_days] * n, pa.uint16()),
        }))

    @property
    def local_path(self) -> str | None:
        """The chdb folder (the beacon journal goes beside it); None for a ClickHouse server."""
        return getattr(self._x, "path", None)

    def _version(self) -> int:
        """A row version: the clock in ns, strictly increasing within this process."""
        with self._clock_lock:
            self._last_version = max(self._last_version + 1, time.time_ns())
            return self._last_version

    def data_version(self, environment_id: str) -> int | None:
        """An owner's: moves with every write of the environment's views, assets or rollups.
        Else None: other processes may write to the same database, so results are not cached."""
        return None if self._follow is None else self._follow.version(environment_id)

    def _committed(self, pending: Pending, environment_ids: set[str], noted: bool = True) -> None:
        """A write of these environments is in the tables: an owner's caches follow it (with
        `noted`, what `pending` says it changed; else everything of theirs)."""
        if self._follow is not None:
            self._follow.committed(pending, environment_ids, noted)

    def close(self) -> None:
        self._x.close()

    # environments and tokens -------------------------------------------------

    def create_environment(self, environment: Environment) -> None:
        e = environment
        self._x.command(
            f"INSERT INTO environments ({ENVIRONMENT_COLUMNS}, created_at_ms) VALUES ({{id:String}}, {{name:String}}, "
            "{key:String}, {days:UInt16}, {rate:Float64}, {burst:UInt32}, {origins:Array(String)}, {now:Int64})",
            {"id": e.environment_id, "name": e.name, "key": e.env_key, "days": e.retention_days,
             "rate": float(e.rate_limit_per_s), "burst": e.rate_limit_burst, "origins": list(e.allowed_origins),
             "now": _now_ms()})

    def set_allowed_origins(self, environment_id: str, origins: Sequence[str]) -> None:
        self._x.command(
            f"INSERT INTO environments ({ENVIRONMENT_COLUMNS}, created_at_ms) SELECT environment_id, name, env_key, "
            "retention_days, rate_limit_per_s, rate_limit_burst, {origins:Array(String)}, created_at_ms "
            "FROM environments FINAL WHERE environment_id = {id:String}",
            {"id": environment_id, "origins": list(origins)})
        self._environments.clear()

    def _environment(self, column: str, value: str) -> Environment | None:
        def load() -> Environment | None:
            rows = self._x.query(
                f"SELECT {ENVIRONMENT_COLUMNS} FROM environments FINAL WHERE {column} = {{value:String}} "
                "ORDER BY created_at_ms LIMIT 1", {"value": value}).to_pylist()
            return environment_of(list(rows[0].values())) if rows else None

        # Only allowed origins change (set_allowed_origins clears this process's cache; the
        # beacon door reads them fresh from `environments()`); an unknown one may be created later.
        return self._environments.get_or_load((column, value), load, keep=lambda e: e is not None)

    def get_environment(self, environment_id: str) -> Environment | None:
        return self._environment("environment_id", environment_id)

    def environments(self) -> list[Environment]:
        rows = self._x.query(f"SELECT {ENVIRONMENT_COLUMNS} FROM environments FINAL ORDER BY created_at_ms").to_pylist()
        return [environment_of(list(r.values())) for r in rows]

    def environment_by_env_key(self, env_key: str) -> Environment | None:
        return self._environment("env_key", env_key)

    def _retention(self, environment_id: str) -> int:
        environment = self.get_environment(environment_id)
        return environment.retention_days if environment else 36500

    def create_token(self, token: Token, created_at_ms: int | None = None) -> None:
        self._x.command(
            "INSERT INTO tokens VALUES ({id:String}, {env:String}, {hash:String}, {permissions:String}, {now:Int64})",
            {"id": token.token_id, "env": token.environment_id, "hash": token.secret_hash,
             "permissions": ",".join(token.permissions), "now": _now_ms() if created_at_ms is None else created_at_ms})

    def get_token(self, token_id: str) -> Token | None:
        # An owner's tokens change only through it; on a shared database another process may
        # revoke or rotate one, so a token is read again after TOKEN_RECHECK_S. An unknown one
        # may be issued later: not cached.
        cached = self._tokens.get(token_id)
        if cached is not None and (self._follow is not None or time.monotonic() - cached[1] < TOKEN_RECHECK_S):
            return cached[0]
        found = self._read_tokens("token_id = {id:String}", {"id": token_id})
        if not found:
            self._tokens.discard(token_id)
            return None
        self._tokens.put(token_id, (found[0][0], time.monotonic()))
        return found[0][0]

    def _read_tokens(self, where: str, params: dict) -> list[tuple[Token, int]]:
        rows = self._x.query("SELECT token_id, environment_id, secret_hash, permissions, created_at_ms FROM tokens FINAL "
                             f"WHERE {where} ORDER BY created_at_ms, token_id", params).to_pylist()
        return [(Token(r["token_id"], r["environment_id"], r["secret_hash"],
                       tuple(p for p in r["permissions"].split(",") if p)), r["created_at_ms"]) for r in rows]

    def tokens(self, environment_id: str) -> list[tuple[Token, int]]:
        return self._read_tokens("environment_id = {env:String}", {"env": environment_id})

    def set_token_secret(self, token_id: str, secret_hash: str) -> None:
        # The newest row of a key wins (ReplacingMergeTree without a version column).
        self._x.command("INSERT INTO tokens SELECT token_id, environment_id, {hash:String}, permissions, created_at_ms "
                        "FROM tokens FINAL WHERE token_id = {id:String}", {"id": token_id, "hash": secret_hash})
        self._tokens.discard(token_id)

    def delete_token(self, token_id: str) -> None:
        self._x.command("DELETE FROM tokens WHERE token_id = {id:String}", {"id": token_id})
        self._tokens.discard(token_id)

    def store_secret(self, name: str) -> str:
        first = "SELECT value FROM secrets WHERE name = {name:String} ORDER BY created_at_ms, value LIMIT 1"
        found = self._x.query(first, {"name": name})["value"].to_pylist()
        if not found:
            self._x.command("INSERT INTO secrets VALUES ({name:String}, {now:Int64}, {value:String})",
                            {"name": name, "now": _now_ms(), "value": secrets.token_urlsafe(32)})
            found = self._x.query(first, {"name": name})["value"].to_pylist()
        return found[0]

    # assets -------------------------------------------------------------------

    def put_asset(self, environment_id: str, asset: Asset) -> None:
        env = {"env": environment_id, "asset": asset.asset_id}
        before = set(self._x.query(
            "SELECT playback_id FROM playback_ids FINAL WHERE environment_id = {env:String} AND asset_id = {asset:String}",
            env)["playback_id"].to_pylist())
        # Assets that lose a playback ID to this one: their rows change too.
        losers = set(self._x.query(
            "SELECT DISTINCT asset_id FROM playback_ids FINAL WHERE environment_id = {env:String} "
            "AND playback_id IN {pids:Array(String)} AND asset_id != {asset:String}",
            {**env, "pids": sorted(asset.playback_ids)})["asset_id"].to_pylist())
        version = self._version()
        self._x.command(
            "INSERT INTO assets (environment_id, asset_id, duration_ms, playback_url, chapters, updated_at_ms, version) "
            "VALUES ({env:String}, {asset:String}, {duration:Nullable(Int64)}, {url:Nullable(String)}, "
            "{chapters:String}, {now:Int64}, {version:UInt64})",
            {**env, "duration": asset.duration_ms, "url": asset.playback_url,
             "chapters": chapters_to_text(asset.chapters) or "", "now": _now_ms(), "version": version})
        gone = sorted(before - set(asset.playback_ids))
        self._x.insert("playback_ids", pa.table({
            "environment_id": pa.array([environment_id] * (len(gone) + len(asset.playback_ids)), _STR),
            "playback_id": pa.array(gone + list(asset.playback_ids), _STR),
            "asset_id": pa.array([asset.asset_id] * (len(gone) + len(asset.playback_ids)), _STR),
            "version": pa.array([version] * (len(gone) + len(asset.playback_ids)), pa.uint64()),
            "deleted": pa.array([1] * len(gone) + [0] * len(asset.playback_ids), pa.uint8()),
        }))
        # The asset's duration and playback IDs decide its rows' grid and members.
        self._rebuild_rollups(environment_id, {asset.asset_id} | losers, before | set(asset.playback_ids))
        self._assets.clear()  # after the writes: a reader meanwhile may have cached the old asset
        self._committed(Pending(), {environment_id}, noted=False)

    def get_asset(self, environment_id: str, asset_id: str) -> Asset | None:
        return self._assets_of(environment_id, [asset_id])[asset_id]

    def _assets_of(self, environment_id: str, asset_ids: Sequence[str]) -> dict[str, Asset | None]:
        """Each id's asset (None: not registered), in one query (an owner's from its cache, for
        those it misses)."""
        def load(missing: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Asset]:
            rows = self._x.query(
                "SELECT a.asset_id AS asset_id, a.duration_ms AS duration_ms, a.playback_url AS playback_url, "
                "  a.chapters AS chapters, arraySort(groupArrayIf(p.playback_id, p.playback_id IS NOT NULL)) AS pids "
                "FROM (SELECT asset_id, duration_ms, playback_url, chapters FROM assets FINAL "
                "  WHERE environment_id = {env:String} "
                "  AND asset_id IN {ids:Array(String)}) AS a "
                "LEFT JOIN (SELECT playback_id, asset_id FROM playback_ids FINAL WHERE environment_id = {env:String} "
                "  AND asset_id IN {ids:Array(String)}) AS p ON a.asset_id = p.asset_id "
                "GROUP BY a.asset_id, a.duration_ms, a.playback_url, a.chapters SETTINGS join_use_nulls = 1",
                {"env": environment_id, "ids": [key[2] for key in missing]}).to_pylist()
            return {(environment_id, "asset", r["asset_id"]): Asset(r["asset_id"], r["duration_ms"], tuple(r["pids"]),
                                                           r["playback_url"], chapters_from_text(r["chapters"]))
                    for r in rows}

        keys = [(environment_id, "asset", asset_id) for asset_id in asset_ids]
        found = self._assets.get_or_load_many(keys, load) if self._follow else {key: None for key in keys} | load(keys)
        return {key[2]: asset for key, asset in found.items()}

    def asset_for_playback_id(self, environment_id: str, playback_id: str) -> Asset | None:
        def load() -> Asset | None:
            rows = self._x.query(
                "SELECT asset_id FROM playback_ids FINAL WHERE environment_id = {env:String} "
                "AND playback_id = {pid:String}", {"env": environment_id, "pid": playback_id})["asset_id"].to_pylist()
            return self.get_asset(environment_id, rows[0]) if rows else None

        if self._follow is None:
            return load()
        return self._assets.get_or_load((environment_id, "playback_id", playback_id), load)

    def _asset_index(self, environment_id: str) -> rollups.AssetIndex:
        rows = self._x.query(
            "SELECT a.asset_id AS asset_id, ifNull(a.duration_ms, 0) AS duration, p.playback_id AS playback_id "
            "FROM (SELECT asset_id, duration_ms FROM assets FINAL WHERE environment_id = {env:String}) AS a "
            "LEFT JOIN (SELECT playback_id, asset_id FROM playback_ids FINAL WHERE environment_id = {env:String}) AS p "
            "ON a.asset_id = p.asset_id SETTINGS join_use_nulls = 1", {"env": environment_id}).to_pylist()
        assets = {r["asset_id"]: int(r["duration"]) for r in rows if r["duration"] > 0}
        playback = {r["playback_id"]: (r["asset_id"], int(r["duration"])) for r in rows if r["playback_id"] is not None}
        return rollups.AssetIndex(assets, playback)

    # views --------------------------------------------------------------------

    def upsert_views(self, environment_id: str, views: Sequence[View], received_at_ms: int) -> set[str]:
        latest = {v.view_id: v for v in views}  # the last version of a view in one batch wins
        if not latest:
            return set()
        return self.bulk_upsert_views(views_to_arrow(environment_id, list(latest.values()), received_at_ms))

    def bulk_upsert_views(self, table: pa.Table) -> set[str]:
        """An Arrow table with VIEW_COLUMNS (one environment, unique view_ids): stored, replacing
        earlier versions, with rollups moved by the difference."""
        return self._upsert(as_views(table), from_beacons=False)

    def _upsert(self, table: pa.Table, from_beacons: bool) -> set[str]:
        """Store views over their stored versions, except those the other source owns (a beacon
        view carries the time of its latest event, an imported one never does); their ids.
        Between reading the stored versions and writing, another process may store a view of
        the other source: ClickHouse has no transaction to close that window."""
        environment_id = table["environment_id"][0].as_py()
        old = self._stored_views(environment_id, table["view_id"])
        foreign = pc.is_null(old["last_event_ms"]) if from_beacons else pc.is_valid(old["last_event_ms"])
        refused = set(pc.filter(old["view_id"], foreign).to_pylist())
        if refused:
            table, old = without_views(table, refused), old.filter(pc.invert(foreign))
        if table.num_rows:
            self._replace(environment_id, table, old)
        return refused

    def _stored_views(self, environment_id: str, view_ids: pa.ChunkedArray | pa.Array | list[str]) -> pa.Table:
        """The stored (newest) versions of these views. Which ids are stored at all is probed
        first without FINAL (one key column read through the primary index), so a batch of
        new views, the common case, never pays for FINAL's merge of the parts it touches."""
        ids = view_ids.to_pylist() if not isinstance(view_ids, list) else view_ids
        stored = [row["scope_id"] for chunk in self._chunked_ids(
            "SELECT DISTINCT scope_id FROM views WHERE environment_id = {env:String} AND scope = 'view' "
            f"AND scope_id IN {VIEW_IDS}", environment_id, ids) for row in chunk.to_pylist()]
        parts = self._chunked_ids(
            f"SELECT {ROW_COLUMNS} FROM views FINAL WHERE environment_id = {{env:String}} AND scope = 'view' "
            f"AND scope_id IN {VIEW_IDS}", environment_id, stored)
        return as_views(pa.concat_tables([as_views(p) for p in parts]) if parts else VIEW_SCHEMA.empty_table())

    def _chunked_ids(self, sql: str, environment_id: str, ids: list[str]) -> list[pa.Table]:
        """`sql` (taking {env} and {ids}) run over `ids` a bounded chunk at a time."""
        return [self._x.query(sql, {"env": environment_id, "ids": ids[i:i + LOOKUP_CHUNK]})
                for i in range(0, len(ids), LOOKUP_CHUNK)]

    def _replace(self, environment_id: str, new: pa.Table, old: pa.Table) -> None:
        """Store `new` views over their `old` versions (same ids or fewer): rows, open rows, rollups."""
        version, retention = self._version(), self._retention(environment_id)
        self._x.insert("views", _replacement_rows(new, old, version, retention))
        self._x.insert("open_views", _replacement_rows(new.filter(_unrolled(new)), old.filter(_unrolled(old)),
                                                       version, retention))
        index = self._asset_index(environment_id)
        deltas = rollups.RollupSteps.summed([(rollups.rollup_steps(new, index, SLICE_PARTITION_MS), 1),
                                             (rollups.rollup_steps(old, index, SLICE_PARTITION_MS), -1)]).changes()
        self._insert_rollups(environment_id, deltas)
        pending = Pending()
        pending.note_views(environment_id, new)
        pending.note_views(environment_id, old)
        pending.note_deltas(environment_id, deltas)
        if old.num_rows:  # a replaced view may take the last trace of an id with it
            self._known_ids.clear()
        self._committed(pending, {environment_id})

    def _insert_rollups(self, environment_id: str, deltas: rollups.RollupSteps) -> None:
        """Insert 5-minute deltas, with the same deltas summed into their hour and day rows, a
        run of keys per insert, so the engine's memory for an import's insert is bounded (a
        row's layers go in as (bucket, step) pairs, up to B of each)."""
        for grain, grained in zip(GRAINS, (deltas.regrained(grain).changes() for grain in GRAINS)):
            for rows in grained.chunks(ROLLUP_INSERT_KEYS):
                self._insert_rollup_rows(environment_id, grain, rows)

    def _insert_rollup_rows(self, environment_id: str, grain: int, rows: rollups.RollupSteps) -> None:
        sparse_type = pa.struct([("1", pa.list_(pa.uint16())), ("2", pa.list_(_I64))])  # an unnamed Tuple
        table, n = rows.to_arrow(), len(rows.keys)
        columns = {
            "environment_id": pa.repeat(pa.scalar(environment_id, _STR), n),
            **{name: table[name] for name in ("scope", "scope_id", "duration_ms")},
            "grain_ms": pa.repeat(pa.scalar(grain, _I64), n),
            **{name: table[name] for name in ("partition_ms", "n_views")},
            "retention_days": pa.repeat(pa.scalar(self._retention(environment_id), pa.uint16()), n),
        }
        for layer in rollups.LAYERS:  # (bucket, step) pairs of each layer
            buckets, steps = (table[column].combine_chunks() for column in rollups.step_columns(layer))
            columns[layer] = pa.StructArray.from_arrays([buckets, steps], fields=list(sparse_type))
        self._x.insert("rollup_steps", pa.table(columns))

    def _rebuild_rollups(self, environment_id: str, asset_ids: set[str], playback_ids: set[str]) -> None:
        """Bring the rows of these assets and playback IDs to what their raw views give, by deltas."""
        index = self._asset_index(environment_id)
        members = set(playback_ids) | {p for p, (a, _) in index.playback_asset.items() if a in asset_ids}
        params = {"env": environment_id, "assets": sorted(asset_ids), "pids": sorted(members)}
        views = as_views(self._x.query(
            f"SELECT {ROW_COLUMNS} FROM views FINAL WHERE environment_id = {{env:String}} AND "
            "((scope = 'asset' AND scope_id IN {assets:Array(String)}) OR "
            "(scope = 'playback_id' AND scope_id IN {pids:Array(String)})) LIMIT 1 BY view_id", params))

        def wanted(key) -> bool:
            scope = rollups.base_scope(key[0])
            return (scope == "asset" and key[1] in asset_ids) or (scope == "playback_id" and key[1] in playback_ids)

        deltas = {k: v for k, v in rollups.rollup_rows(views, index, SLICE_PARTITION_MS).items() if wanted(k)}
        stored = self._stored_rollups(
            "(splitByChar('|', scope)[1] = 'asset' AND scope_id IN {assets:Array(String)}) "
            "OR (splitByChar('|', scope)[1] = 'playback_id' AND scope_id IN {pids:Array(String)})",
            {**params, "pids": sorted(playback_ids)})
        rollups.combine(deltas, {key: row for key, row in stored.items() if wanted(key)}, -1)
        self._insert_rollups(environment_id, rollups.RollupSteps.from_dense(deltas))

    def _stored_rollups(self, where: str, params: dict) -> dict[rollups.RollupKey, tuple[int, np.ndarray]]:
        """The stored 5-minute rows ({env}'s, meeting `where`) summed per key, as rollups.rollup_rows
        gives them: (n_views, coverage of each layer)."""
        current = self._x.query(
            f"SELECT scope, scope_id, partition_ms, duration_ms, sum(n_views) AS n, {_SUMMED_LAYERS} FROM rollup_steps "
            f"WHERE environment_id = {{env:String}} AND grain_ms = {rollups.PARTITION_MS} AND ({where}) "
            "GROUP BY scope, scope_id, partition_ms, duration_ms", params)
        keys = zip(*(current[column].to_pylist() for column in ("scope", "scope_id", "partition_ms", "duration_ms")))
        return {key: (int(n), coverage) for key, n, coverage in zip(
            keys, current["n"].to_pylist(), _dense_layers(current, rollups.LAYERS, current["duration_ms"].to_pylist()))}

    def rebuild_rollups(self, environment_id: str) -> int:
        """Repair: bring every rollup row of the environment to what its raw views give (deltas).

        Needed only after a write was cut off between tables (see docs/clickhouse.md)."""
        scopes = self._x.query(
            "SELECT DISTINCT scope, scope_id FROM (SELECT scope, scope_id FROM rollup_steps WHERE environment_id = {env:String} "
            "UNION ALL SELECT scope, scope_id FROM views WHERE environment_id = {env:String} AND scope IN ('asset', 'playback_id'))",
            {"env": environment_id}).to_pylist()
        assets = {r["scope_id"] for r in scopes if r["scope"] == "asset"}
        pids = {r["scope_id"] for r in scopes if r["scope"] == "playback_id"}
        assets |= set(self._asset_index(environment_id).asset_duration)
        self._rebuild_rollups(environment_id, assets, pids)
        videos = self._x.query(
            "SELECT DISTINCT scope_id FROM (SELECT scope_id FROM rollup_steps WHERE environment_id = {env:String} "
            "AND scope = 'video' UNION ALL SELECT scope_id FROM views WHERE environment_id = {env:String} "
            "AND scope = 'video')", {"env": environment_id})["scope_id"].to_pylist()
        index = self._asset_index(environment_id)
        for i in range(0, len(videos), 1000):
            chunk = videos[i:i + 1000]
            params = {"env": environment_id, "ids": chunk}
            views = as_views(self._x.query(
                f"SELECT {ROW_COLUMNS} FROM views FINAL WHERE environment_id = {{env:String}} AND scope = 'video' "
                "AND scope_id IN {ids:Array(String)}", params))
            deltas = {k: v for k, v in rollups.rollup_rows(views, index, SLICE_PARTITION_MS).items()
                      if rollups.base_scope(k[0]) == "video"}
            stored = self._stored_rollups(
                "splitByChar('|', scope)[1] = 'video' AND scope_id IN {ids:Array(String)}", params)
            rollups.combine(deltas, stored, -1)
            self._insert_rollups(environment_id, rollups.RollupSteps.from_dense(deltas))
        self._committed(Pending(), {environment_id}, noted=False)
        return len(assets) + len(pids) + len(videos)

    def get_view(self, environment_id: str, view_id: str) -> View | None:
        table = self._stored_views(environment_id, [view_id])
        return views_from_arrow(table)[0] if table.num_rows else None

    def scope_exists(self, environment_id: str, scope: Scope, scope_id: str) -> bool:
        if self._follow is None:
            return self._scope_exists(environment_id, scope, scope_id)
        # Only ids that exist are remembered: ids only disappear through retention or replaced
        # views, which clear this; an unknown id may get views any time.
        return self._known_ids.get_or_load((environment_id, scope, scope_id),
                                           lambda: self._scope_exists(environment_id, scope, scope_id), keep=bool)

    def _scope_exists(self, environment_id: str, scope: Scope, scope_id: str) -> bool:
        params = {"env": environment_id, "id": scope_id}
        seen = (f"SELECT 1 FROM views FINAL WHERE environment_id = {{env:String}} AND scope = '{scope.value}' "
                "AND scope_id = {id:String} LIMIT 1")
        registered = {
            Scope.ASSET: "SELECT 1 FROM assets FINAL WHERE environment_id = {env:String} AND asset_id = {id:String}",
            Scope.PLAYBACK_ID: ("SELECT 1 FROM playback_ids FINAL WHERE environment_id = {env:String} "
                                "AND playback_id = {id:String}"),
        }.get(scope)
        sql = f"SELECT count() AS n FROM ({seen}{f' UNION ALL {registered}' if registered else ''})"
        return self._x.query(sql, params)["n"][0].as_py() > 0

    def assets_of_video(self, environment_id: str, video_id: str, limit: int) -> list[str]:
        rows = self._x.query(
            "SELECT DISTINCT coalesce(nullIf(v.asset_id, ''), p.asset_id) AS asset "
            "FROM (SELECT asset_id, playback_id FROM views FINAL WHERE environment_id = {env:String} "
            "  AND scope = 'video' AND scope_id = {video:String}) AS v "
            "LEFT JOIN (SELECT playback_id, asset_id FROM playback_ids FINAL WHERE environment_id = {env:String}) AS p "
            "ON v.playback_id = p.playback_id WHERE asset IS NOT NULL ORDER BY asset LIMIT {limit:UInt64} "
            "SETTINGS join_use_nulls = 1", {"env": environment_id, "video": video_id, "limit": limit})
        return rows["asset"].to_pylist()

    def list_scope_ids(self, environment_id: str, scope: Scope, search: str | None, limit: int) -> list[tuple[str, int]]:
        registered = {
            Scope.ASSET: "SELECT asset_id AS id, 0 AS n FROM assets FINAL WHERE environment_id = {env:String}",
            Scope.PLAYBACK_ID: "SELECT playback_id AS id, 0 AS n FROM playback_ids FINAL WHERE environment_id = {env:String}",
        }.get(scope)
        seen = (f"SELECT scope_id AS id, count() AS n FROM views FINAL WHERE environment_id = {{env:String}} "
                f"AND scope = '{scope.value}' GROUP BY scope_id")
        sql = (f"SELECT id, sum(n) AS views FROM ({seen}{f' UNION ALL {registered}' if registered else ''}) "
               "WHERE {search:Nullable(String)} IS NULL OR position(lowerUTF8(id), lowerUTF8(assumeNotNull({search:Nullable(String)}))) > 0 "
               "GROUP BY id ORDER BY views DESC, id ASC LIMIT {limit:UInt64}")
        rows = self._x.query(sql, {"env": environment_id, "search": search, "limit": limit}).to_pylist()
        return [(r["id"], int(r["views"])) for r in rows]

    def scope_durations(self, environment_id: str, scope: Scope, min_ms: int, max_ms: int,
                        limit: int) -> list[tuple[str, int, int]]:
        nothing = "CAST(NULL AS Nullable(Int64))"
        registered = {
            Scope.ASSET: f"SELECT asset_id AS id, 0 AS n, {nothing} AS reported, duration_ms AS registered "
                         "FROM assets FINAL WHERE environment_id = {env:String}",
            Scope.PLAYBACK_ID: f"SELECT p.playback_id AS id, 0 AS n, {nothing} AS reported, a.duration_ms AS registered "
                               "FROM (SELECT playback_id, asset_id FROM playback_ids FINAL WHERE environment_id = {env:String}) AS p "
                               "INNER JOIN (SELECT asset_id, duration_ms FROM assets FINAL WHERE environment_id = {env:String}) AS a "
                               "ON p.asset_id = a.asset_id",
        }.get(scope)
        # Median of the reported durations: the two middle values averaged (rounded down), as on DuckDB.
        seen = ("SELECT scope_id AS id, count() AS n, CAST(intDiv(quantileExactLow(0.5)(duration_ms) "
                f"+ quantileExactHigh(0.5)(duration_ms), 2) AS Nullable(Int64)) AS reported, {nothing} AS registered "
                f"FROM views FINAL WHERE environment_id = {{env:String}} AND scope = '{scope.value}' GROUP BY scope_id")
        sql = (f"SELECT id, sum(n) AS views, coalesce(any(registered), any(reported)) AS d "
               f"FROM ({seen}{f' UNION ALL {registered}' if registered else ''}) GROUP BY id "
               "HAVING d BETWEEN {min:Int64} AND {max:Int64} ORDER BY views DESC, id ASC LIMIT {limit:UInt64}")
        params = {"env": environment_id, "min": min_ms, "max": max_ms, "limit": limit}
        rows = self._x.query(sql, params).to_pylist()
        return [(r["id"], int(r["d"]), int(r["views"])) for r in rows]

    def view_ranges(self, query: ViewQuery) -> RangeSet:
        table = self._x.query(f"SELECT range_starts, range_ends, duration_ms FROM views FINAL WHERE {_counted_sql(query)}",
                              _query_params(query, self._x))
        return range_set_from_arrow(table)

    def list_views(self, query: ViewQuery, limit: int, after: tuple[int, str] | None, max_ranges: int) -> list[View]:
        # The same condition as view_ranges, so a listing holds exactly the views the heatmap counts.
        where = _counted_sql(query)
        params = {**_query_params(query, self._x), "limit": limit, "max_ranges": max_ranges}
        if after is not None:
            where += f" AND {KEYSET_BEFORE.format(start='{after_start:Int64}', view='{after_view:String}')}"
            params |= {"after_start": after[0], "after_view": after[1]}
        page = budgeted_page_sql("views FINAL", where, "{limit:UInt64}", "{max_ranges:UInt64}")
        sql = (f"SELECT {ROW_COLUMNS} FROM views FINAL WHERE {where} AND view_id IN ({page}) "
               "ORDER BY view_start_ms DESC, view_id DESC")
        return views_from_arrow(as_views(self._x.query(sql, params)))

    def export_views(self, environment_id: str, start_ms: int, end_ms: int, scope: Scope | None = None,
                     scope_id: str | None = None, filters: Filters = (),
                     batch_rows: int = EXPORT_BATCH_ROWS, in_progress: bool = False) -> Iterator[pa.Table]:
        conditions, params = _filter_sql(filters)
        # Unscoped: each view's own row ('view' scope), so a view is read once.
        scoped = _SCOPE_SQL[scope] if scope else "scope = 'view'"
        conditions = ["environment_id = {env:String} AND " + scoped + " AND view_start_ms >= {start:Int64} "
                      "AND view_start_ms < {end:Int64}", *([] if in_progress else ["view_end_ms IS NOT NULL"]),
                      *conditions]
        params |= {"env": environment_id, "start": start_ms, "end": end_ms, "limit": batch_rows}
        if scope:
            params["scope_id"] = scope_id
        if scope is Scope.ASSET:
            params["pids"] = _asset_playback_ids(self._x, environment_id, scope_id)

        def page(after: tuple[int, str] | None) -> pa.Table:
            keyset = [KEYSET_AFTER.format(start="{after_start:Int64}", view="{after_view:String}")] if after else []
            sql = (f"SELECT {ROW_COLUMNS} FROM views FINAL WHERE {' AND '.join(conditions + keyset)} "
                   "ORDER BY view_start_ms, view_id LIMIT {limit:UInt64}")
            values = params | ({"after_start": after[0], "after_view": after[1]} if after else {})
            return as_views(self._x.query(sql, values))

        return keyset_pages(page, batch_rows)

    def count_views(self, query: ViewQuery) -> int:
        sql = f"SELECT count() AS n FROM views FINAL WHERE {_counted_sql(query)}"
        return int(self._x.query(sql, _query_params(query, self._x))["n"][0].as_py())

    def duration_histogram(self, query: ViewQuery) -> list[tuple[int, int]]:
        return self.duration_histograms(query, [query.scope_id]).get(query.scope_id, [])

    def duration_histograms(self, query: ViewQuery, scope_ids: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        if not scope_ids:
            return {}
        plan, (p0, p1) = rollups.query_plan(query, SLICE_PARTITION_MS)
        grids = {scope_id: Grid(0, False) for scope_id in scope_ids}
        counted, sid = _members_sql(query)
        sql = (
            "SELECT sid, duration_ms, sum(n) AS n FROM ("
            "  SELECT scope_id AS sid, duration_ms, sum(n_views * if(has({minus:Array(String)}, scope), -1, 1)) AS n "
            "  FROM rollup_steps WHERE environment_id = {env:String} AND scope IN {scopes:Array(String)} "
            f"  AND scope_id IN {{ids:Array(String)}} AND {_grained_sql(p0, p1)} GROUP BY sid, duration_ms"
            + "".join(f" UNION ALL SELECT {sid} AS sid, duration_ms, toInt64(count()) AS n FROM {table} FINAL "
                      f"WHERE {counted} AND {part} GROUP BY sid, duration_ms"
                      for table, part in _unheld_parts(sid, other_grids=False))
            + ") GROUP BY sid, duration_ms HAVING n > 0 ORDER BY sid, duration_ms"
        )
        params = {**self._batch_params(query, grids), "p0": p0, "p1": p1, **plan.params()}
        histograms: dict[str, list[tuple[int, int]]] = {}
        for r in self._x.query(sql, params).to_pylist():
            histograms.setdefault(r["sid"], []).append((int(r["duration_ms"]), int(r["n"])))
        return histograms

    def registered_durations(self, environment_id: str, scope: Scope, scope_ids: Sequence[str]) -> dict[str, int | None]:
        if self._follow is not None and scope is not Scope.VIDEO:  # from the owner's cached assets
            assets = self._assets_of(environment_id, scope_ids) if scope is Scope.ASSET else {
                scope_id: self.asset_for_playback_id(environment_id, scope_id) for scope_id in scope_ids}
            return {scope_id: asset.duration_ms for scope_id, asset in assets.items() if asset is not None}
        sql = {
            Scope.ASSET: "SELECT asset_id AS id, duration_ms FROM assets FINAL WHERE environment_id = {env:String} "
                         "AND asset_id IN {ids:Array(String)}",
            Scope.PLAYBACK_ID: "SELECT p.playback_id AS id, a.duration_ms AS duration_ms "
                               "FROM (SELECT playback_id, asset_id FROM playback_ids FINAL WHERE environment_id = {env:String} "
                               "AND playback_id IN {ids:Array(String)}) AS p "
                               "INNER JOIN (SELECT asset_id, duration_ms FROM assets FINAL WHERE environment_id = {env:String}) AS a "
                               "ON p.asset_id = a.asset_id",
        }.get(scope)
        if sql is None or not scope_ids:
            return {}
        rows = self._x.query(sql, {"env": environment_id, "ids": list(scope_ids)}).to_pylist()
        return {r["id"]: r["duration_ms"] for r in rows}

    def coverage(self, query: ViewQuery, duration_ms: int, registered: bool, *, layers: bool = False) -> Coverage:
        return self.coverages(query, {query.scope_id: Grid(duration_ms, registered)}, layers=layers)[query.scope_id]

    def coverages(self, query: ViewQuery, grids: Mapping[str, Grid], *, layers: bool = False) -> dict[str, Coverage]:
        if not grids:
            return {}
        plan, (p0, p1) = rollups.query_plan(query, SLICE_PARTITION_MS)
        read = rollups.layers_read(layers)
        if self._follow is not None and plan.terms and all(grid.registered for grid in grids.values()):
            return self._followed(query, grids, plan, (p0, p1), read)
        params = {**self._batch_params(query, grids), "p0": p0, "p1": p1, **plan.params()}
        summed = self._x.query(
            "SELECT scope_id AS sid, sumIf(n_views * sign, duration_ms = grid) AS n, "
            + "".join(f"sumMapIf(({layer}.1, arrayMap(v -> v * sign, {layer}.2)), duration_ms = grid) "
                      f"AS {_summed(layer)}, " for layer in read)
            + "  groupUniqArrayIf(duration_ms, duration_ms != grid) AS others "
            f"FROM (SELECT scope_id, n_views, {', '.join(read)}, duration_ms, "
            "  if(has({minus:Array(String)}, scope), -1, 1) AS sign, "
            f"  {_GRID_OF.format(sid='scope_id')} AS grid "
            "  FROM rollup_steps WHERE environment_id = {env:String} AND scope IN {scopes:Array(String)} "
            f"  AND scope_id IN {{ids:Array(String)}} AND {_grained_sql(p0, p1)}) GROUP BY sid", params)
        rows = {r["sid"]: (int(r["n"] or 0), coverage, r["others"]) for r, coverage in zip(
            summed.select(["sid", "n", "others"]).to_pylist(),
            _dense_layers(summed, read, [grids[sid].duration_ms for sid in summed["sid"].to_pylist()]))}
        # Without a registered duration, views on other grids are read raw, if there are any.
        # (A grid listed here whose rows sum to nothing only costs an empty read.)
        params["others"] = [sid for sid, (_, _, others) in rows.items() if others and not grids[sid].registered]
        counted, sid = _members_sql(query)
        sql = " UNION ALL ".join(
            f"SELECT {sid} AS sid, range_starts, range_ends, duration_ms FROM {table} FINAL WHERE {counted} AND {part}"
            for table, part in _unheld_parts(sid, other_grids=bool(params["others"])))
        table = self._x.query(sql, params)
        table = table.take(pc.sort_indices(table["sid"]))
        ids = table["sid"].to_numpy(zero_copy_only=False)
        coverages = {}
        for scope_id, grid in grids.items():
            nothing = np.zeros((len(read), bucket_count(grid.duration_ms)), dtype=np.int64)
            n_views, coverage, _ = rows.get(scope_id, (0, nothing, []))
            a, b = np.searchsorted(ids, scope_id, side="left"), np.searchsorted(ids, scope_id, side="right")
            coverages[scope_id] = rollups.coverage(n_views, coverage, range_set_from_arrow(table.slice(a, b - a)))
        return coverages

    def _followed(self, query: ViewQuery, grids: Mapping[str, Grid], plan: rollups.RollupPlan,
                  parts: tuple[int, int], read: tuple[str, ...]) -> dict[str, Coverage]:
        """An owner's coverages of ids with registered durations, from reads cached and followed
        across its writes (store/followed.py)."""
        assert self._follow is not None
        keys = [(term, scope_id, grid.duration_ms) for scope_id, grid in grids.items() for term, _ in plan.terms]
        assets = self._assets_of(query.environment_id, list(grids)) if query.scope is Scope.ASSET else {}
        sums, raw = self._follow.coverage_parts(
            query, grids, plan.grain, parts, keys, read, counted_content(query.scope, grids, assets),
            self._follow.snapshot, self._prefix_reader(query.environment_id),
            functools.partial(self._piece, query, grids))
        return summed_coverages(plan, grids, read, sums, raw)

    def _prefix_reader(self, environment_id: str) -> ReadPrefixes:
        """Running sums of the 5-minute rollup rows of the keys missing, in one query."""

        def read(missing: dict[SumsKey, list[str]]) -> Iterator[tuple[SumsKey, str, RollupPrefix]]:
            layers = [layer for layer in rollups.LAYERS if any(layer in wanted for wanted in missing.values())]
            rows = self._x.query(
                "SELECT scope, scope_id, duration_ms, partition_ms, sum(n_views) AS n_views, "
                + ", ".join(f"sumMap({layer}) AS {_summed(layer)}" for layer in layers)
                + " FROM rollup_steps WHERE environment_id = {env:String} AND grain_ms = {grain:Int64} "
                "AND scope IN {scopes:Array(String)} AND scope_id IN {ids:Array(String)} "
                "AND duration_ms IN {durations:Array(Int64)} GROUP BY scope, scope_id, duration_ms, partition_ms "
                "ORDER BY scope, scope_id, duration_ms, partition_ms",
                {"env": environment_id, "grain": rollups.PARTITION_MS, "scopes": sorted({k[0] for k in missing}),
                 "ids": sorted({k[1] for k in missing}), "durations": sorted({k[2] for k in missing})})
            keys = list(zip(*(rows[c].to_pylist() for c in ("scope", "scope_id", "duration_ms"))))
            for key, wanted in missing.items():
                a, b = bisect.bisect_left(keys, key), bisect.bisect_right(keys, key)
                mine = rows.slice(a, b - a)
                for layer in wanted:
                    yield key, layer, RollupPrefix.of_rows(
                        mine["partition_ms"].to_numpy().astype(np.int64), mine["n_views"].to_numpy().astype(np.int64),
                        _coverage_rows(mine[_summed(layer)], bucket_count(key[2])))

        return read

    def _piece(self, query: ViewQuery, grids: Mapping[str, Grid], depends: Views) -> Piece:
        """The candidate views of one raw piece: every view row of the ids starting in
        [depends.lo, depends.hi) (those in progress only, if depends.open_only), idle or not."""
        counted, sid = _members_sql(query)
        table, part = ("open_views", "view_end_ms IS NULL") if depends.open_only else ("views", "1")
        params = {**self._batch_params(query, grids), "start": depends.lo, "end": depends.hi,
                  "idle_before": ALWAYS_IDLE}
        return Piece.of(self._x.query(
            f"SELECT {sid} AS sid, view_start_ms, view_end_ms IS NULL AS open, received_at_ms, range_starts, "
            f"range_ends, duration_ms FROM {table} FINAL WHERE {counted} AND {part}", params))

    def _batch_params(self, query: ViewQuery, grids: Mapping[str, Grid]) -> dict:
        params = {"env": query.environment_id, "start": query.start_ms, "end": query.end_ms,
                  "idle_before": query.idle_before_ms, **_filter_sql(query.filters)[1], "ids": list(grids),
                  "grid_ms": [grid.duration_ms for grid in grids.values()],
                  "unregistered": [sid for sid, grid in grids.items() if not grid.registered]}
        if query.scope is Scope.ASSET:  # the playback IDs registered to the ids, with their asset
            owners = [(playback_id, asset.asset_id) for asset in self._assets_of(query.environment_id, list(grids))
                      .values() if asset for playback_id in asset.playback_ids]
            params |= {"pids": [p for p, _ in owners], "owners": [a for _, a in owners]}
        return params

    # housekeeping -----------------------------------------------------------------

    @property
    def assembly_lease_ms(self) -> int:
        return self._assembly_lease_ms

    def assembly_lease(self) -> bool:
        return self._lease(ASSEMBLY_LEASE, self._assembly_lease_ms)

    def release_assembly_lease(self) -> None:
        if self._lease_holder(ASSEMBLY_LEASE) == self._holder:
            self._claim(ASSEMBLY_LEASE, 0)

    def _lease_holder(self, name: str, now_ms: int | None = None) -> str | None:
        """Who holds the named lease (at `now_ms`: None when it has expired by then)."""
        rows = self._x.query("SELECT holder, until_ms FROM leases FINAL WHERE name = {name:String}",
                             {"name": name}).to_pylist()
        if not rows or (now_ms is not None and rows[0]["until_ms"] <= now_ms):
            return None
        return rows[0]["holder"]

    def _claim(self, name: str, until_ms: int) -> None:
        self._x.command("INSERT INTO leases VALUES ({name:String}, {holder:String}, {until:Int64}, {version:UInt64})",
                        {"name": name, "holder": self._holder, "until": until_ms, "version": self._version()})

    def _lease(self, name: str, duration_ms: int) -> bool:
        """Hold the named lease (one process at a time), taking it when free or expired.

        Without compare-and-set, writers race: each writes a claim, waits for concurrent
        claims to land (a renewal need not: the others saw it held), and the newest claim
        (FINAL) wins for everyone. A renewal reads back too, so a holder that was too slow to
        renew and was taken over learns it here."""
        now = _now_ms()
        current = self._lease_holder(name, now)
        if current is not None and current != self._holder:
            return False
        self._claim(name, now + duration_ms)
        if current is None:
            time.sleep(self.lease_settle_s)
        return self._lease_holder(name) == self._holder

    def finalize_idle_views(self, idle_before_ms: int) -> int:
        """Close idle views in rounds of FINALIZE_CHUNK, each under a freshly renewed assembly
        lease (beacon views have one writer), so a long closing never outlives the lease."""
        closed = 0
        while self.assembly_lease():
            idle = as_views(self._x.query(
                f"SELECT {ROW_COLUMNS} FROM open_views FINAL WHERE scope = 'view' AND view_end_ms IS NULL "
                "AND received_at_ms < {cutoff:Int64} LIMIT {chunk:UInt64}",
                {"cutoff": idle_before_ms, "chunk": FINALIZE_CHUNK}))
            for environment_id in sorted(set(idle["environment_id"].to_pylist())):
                old = idle.filter(pc.equal(idle["environment_id"], environment_id))
                ends = pc.max_element_wise(old["view_start_ms"], pc.coalesce(old["last_event_ms"], old["view_start_ms"]))
                self._replace(environment_id, old.set_column(old.schema.get_field_index("view_end_ms"), "view_end_ms",
                                                             ends), old)
            closed += idle.num_rows
            if idle.num_rows < FINALIZE_CHUNK:
                break
        return closed

    def expire(self, now_ms: int) -> int:
        """Drop views (and their rollups and events) older than each environment's retention.

        Whole 5-minute partitions, so rollups and raw views never disagree about one. The
        tables' TTLs remove the same rows in the background; this makes it exact and prompt."""
        if not self.assembly_lease():
            return 0
        removed = 0
        environments = self._x.query("SELECT environment_id, retention_days FROM environments FINAL").to_pylist()
        for e in environments:
            cutoff = int(rollups.partition_of(now_ms - int(e["retention_days"]) * 86_400_000))
            params = {"env": e["environment_id"], "cutoff": cutoff}
            stale = self._x.query(
                "SELECT (SELECT count() FROM views WHERE environment_id = {env:String} AND view_start_ms < {cutoff:Int64}) "
                "+ (SELECT count() FROM rollup_steps WHERE environment_id = {env:String} AND partition_ms < {cutoff:Int64}) AS n",
                params)["n"][0].as_py()
            if not stale:
                continue
            removed += self._x.query(
                "SELECT count() AS n FROM views FINAL WHERE environment_id = {env:String} AND scope = 'view' "
                "AND view_start_ms < {cutoff:Int64}", params)["n"][0].as_py()
            self._x.command(
                "DELETE FROM view_folds WHERE environment_id = {env:String} AND view_id IN (SELECT scope_id FROM views "
                "WHERE environment_id = {env:String} AND scope = 'view' AND view_start_ms < {cutoff:Int64})", params)
            for table in ("views", "open_views"):
                self._x.command(f"DELETE FROM {table} WHERE environment_id = {{env:String}} "
                                "AND view_start_ms < {cutoff:Int64}", params)
            # Hour and day rows that straddle the cutoff lose the share of the 5-minute rows
            # that go; then every row wholly before the cutoff goes.
            for grain in GRAINS[1:]:
                self._x.command(
                    "INSERT INTO rollup_steps (environment_id, scope, scope_id, duration_ms, grain_ms, partition_ms, n_views, "
                    f"retention_days, {', '.join(rollups.LAYERS)}) "
                    "SELECT environment_id, scope, scope_id, duration_ms, {grain:Int64}, "
                    "intDiv(partition_ms, {grain:Int64}) * {grain:Int64} AS coarse, -sum(n_views), max(retention_days), "
                    f"{_NEGATED_LAYERS} FROM rollup_steps "
                    "WHERE environment_id = {env:String} AND grain_ms = {fine:Int64} AND partition_ms < {cutoff:Int64} "
                    "AND partition_ms >= intDiv({cutoff:Int64}, {grain:Int64}) * {grain:Int64} "
                    "GROUP BY environment_id, scope, scope_id, duration_ms, coarse",
                    {**params, "grain": grain, "fine": rollups.PARTITION_MS})
            self._x.command("DELETE FROM rollup_steps WHERE environment_id = {env:String} "
                            "AND partition_ms + grain_ms <= {cutoff:Int64}", params)
            self._known_ids.clear()
            self._committed(Pending(), {e["environment_id"]}, noted=False)
        return removed

    # beacon views -----------------------------------------------------------------

    def view_folds(self, environment_id: str, view_ids: Sequence[str]) -> dict[str, str]:
        rows = self._x.query(
            "SELECT view_id, argMax(fold, version) AS fold FROM view_folds WHERE environment_id = {env:String} "
            f"AND view_id IN {VIEW_IDS} GROUP BY view_id", {"env": environment_id, "ids": list(view_ids)})
        return dict(zip(rows["view_id"].to_pylist(), rows["fold"].to_pylist()))

    def upsert_beacon_views(self, environment_id: str, views: Sequence[View], folds: Sequence[str],
                            received_at_ms: Sequence[int]) -> set[str]:
        """Views, then their folds: a crash between the two leaves the folds behind, so the
        journal's replay of the same events finds them new and writes both again."""
        if not views:
            return set()
        refused = self._upsert(as_views(views_to_arrow(environment_id, views, received_at_ms)), from_beacons=True)
        kept = [(v.view_id, fold) for v, fold in zip(views, folds) if v.view_id not in refused]
        if kept:
            self._insert_folds(environment_id, [v for v, _ in kept], [f for _, f in kept], self._version(),
                               self._retention(environment_id))
        return refused


    # the beacon inbox (BeaconInbox) ---------------------------------------------------

    def inbox_append(self, rows: Sequence[InboxRow]) -> None:
        self._x.insert("beacon_inbox", pa.table({
            "source": pa.array([r.source for r in rows], _STR), "seq": pa.array([r.seq for r in rows], pa.uint64()),
            "at_ms": pa.array([r.at_ms for r in rows], _I64), "payload": pa.array([r.payload for r in rows], pa.binary()),
        }))

    def inbox_cursors(self) -> dict[str, int]:
        rows = self._x.query("SELECT source, max(seq) AS seq FROM inbox_cursors GROUP BY source")
        return dict(zip(rows["source"].to_pylist(), rows["seq"].to_pylist()))

    def inbox_read(self, after: dict[str, int], max_bytes: int) -> list[InboxRow]:
        # First each source's first pending seq (key columns only), then each source's key range.
        params = _cursor_params(after)
        firsts = self._x.query(f"SELECT source, min(seq) AS first FROM beacon_inbox WHERE {_PAST_CURSORS} "
                               "GROUP BY source ORDER BY source", params).to_pylist()
        if not firsts:
            return []
        ranges, params = [], {}
        for i, row in enumerate(firsts):
            ranges.append(f"(source = {{s{i}:String}} AND seq >= {{lo{i}:UInt64}} AND seq <= {{hi{i}:UInt64}})")
            params |= {f"s{i}": row["source"], f"lo{i}": row["first"], f"hi{i}": row["first"] + max_bytes}
        table = self._x.query("SELECT source, seq, at_ms, payload FROM beacon_inbox "
                              f"WHERE {' OR '.join(ranges)} ORDER BY source, seq", params)
        rows: list[InboxRow] = []
        for source, seq, at_ms, payload in zip(*(table[c].to_pylist() for c in InboxRow._fields)):
            if not rows or (source, seq) != rows[-1][:2]:  # a row forwarded twice, not merged yet: once
                rows.append(InboxRow(source, seq, at_ms, payload if isinstance(payload, bytes) else payload.encode()))
        return rows

    def inbox_advance(self, cursors: dict[str, int]) -> None:
        self._x.insert("inbox_cursors", pa.table({"source": pa.array(list(cursors), _STR),
                                                  "seq": pa.array(list(cursors.values()), pa.uint64())}))

    def inbox_prune(self, cursors: dict[str, int]) -> None:
        if cursors:
            self._x.command(f"DELETE FROM beacon_inbox WHERE NOT ({_PAST_CURSORS})", _cursor_params(cursors))

    def inbox_backlog(self) -> InboxBacklog:
        cursors = self.inbox_cursors()
        # Key ranges: past its cursor for each known source, whole for the others.
        ranges = [f"(source = {{s{i}:String}} AND seq > {{c{i}:UInt64}})" for i in range(len(cursors))]
        ranges.append("source NOT IN {sources:Array(String)}")
        params = {"sources": list(cursors)} | {f"s{i}": s for i, s in enumerate(cursors)} \
            | {f"c{i}": c for i, c in enumerate(cursors.values())}
        row = self._x.query("SELECT count() AS n, sum(length(payload)) AS bytes, min(at_ms) AS oldest "
                            f"FROM beacon_inbox WHERE {' OR '.join(ranges)}", params).to_pylist()[0]
        return InboxBacklog(int(row["n"]), int(row["bytes"] or 0), row["oldest"] if row["n"] else None)


def _now_ms() -> int:
    return int(time.time() * 1000)


# Inbox rows past per-source cursors ({sources}, {cursors}: parallel arrays; a source not
# listed is past nothing: seq starts at 1).
_PAST_CURSORS = "seq > {cursors:Array(UInt64)}[indexOf({sources:Array(String)}, source)]"


def _cursor_params(cursors: dict[str, int]) -> dict:
    return {"sources": list(cursors), "cursors": list(cursors.values())}


def _unrolled(views: pa.Table) -> pa.ChunkedArray:
    """Views rollups cannot hold on every grid: in progress, or no duration to grid by."""
    return pc.or_(pc.is_null(views["view_end_ms"]), pc.equal(views["duration_ms"], 0))


def _scope_rows(views: pa.Table, scope: str, column: str) -> pa.Table:
    rows = views if column == "view_id" else views.filter(pc.is_valid(views[column]))
    return rows.append_column("scope", pa.repeat(pa.scalar(scope, _STR), rows.num_rows)) \
        .append_column("scope_id", rows[column])


def _replacement_rows(new: pa.Table, old: pa.Table, version: int, retention_days: int) -> pa.Table:
    """The rows that store `new` over `old`: every scope row of the new views, plus a tombstone
    for each old scope row whose key (scope, scope id, view start, view id) the new ones do not reuse."""
    parts = []
    for scope, column in SCOPES:
        fresh = _scope_rows(new, scope, column)
        parts.append(_stamped(fresh, version, 0, retention_days))
        stale = _scope_rows(old, scope, column)
        if stale.num_rows and not new.num_rows:
            parts.append(_stamped(stale, version, 1, retention_days))
        elif stale.num_rows:
            position = pc.index_in(stale["view_id"], value_set=new["view_id"].combine_chunks())
            same = pc.and_(pc.equal(pc.take(new[column], pc.fill_null(position, 0)), stale["scope_id"]),
                           pc.equal(pc.take(new["view_start_ms"], pc.fill_null(position, 0)), stale["view_start_ms"]))
            reused = pc.and_(pc.is_valid(position), pc.fill_null(same, False))
            parts.append(_stamped(stale.filter(pc.invert(reused)), version, 1, retention_days))
    return pa.concat_tables(parts)


def _stamped(rows: pa.Table, version: int, deleted: int, retention_days: int) -> pa.Table:
    n = rows.num_rows
    return (rows.append_column("version", pa.repeat(pa.scalar(version, pa.uint64()), n))
            .append_column("deleted", pa.repeat(pa.scalar(deleted, pa.uint8()), n))
            .append_column("retention_days", pa.repeat(pa.scalar(retention_days, pa.uint16()), n)))


def _coverage_rows(steps: pa.ChunkedArray, n_buckets: int) -> np.ndarray:
    """sumMap results of a layer ((buckets, summed steps) per row) on one grid as its coverage:
    a (rows, B) int64 array, the running sum of the steps over the buckets."""
    pairs = steps.combine_chunks() if isinstance(steps, pa.ChunkedArray) else steps
    dense = np.zeros((len(pairs), n_buckets), dtype=np.int64)
    buckets, sums = pairs.field(0), pairs.field(1)
    dense[pc.list_parent_indices(buckets).to_numpy(), pc.list_flatten(buckets).to_numpy().astype(np.int64)] = \
        pc.list_flatten(sums).to_numpy()
    return np.cumsum(dense, axis=1)


def _summed(layer: str) -> str:
    """What a query calls the sum of a layer's column: not the column's own name, which some
    ClickHouse versions would read as the alias inside the sum itself."""
    return f"{layer}_sum"


def _dense_layers(table: pa.Table, layers: tuple[str, ...], durations: list[int]) -> list[np.ndarray]:
    """The sums (_summed) of `layers` as (layers, B) int64 arrays, one per row (each on the grid
    of its duration)."""
    out: list[np.ndarray] = [np.zeros(0)] * len(durations)
    grid_of = np.asarray(durations, dtype=np.int64)
    for duration in np.unique(grid_of).tolist():  # the rows of one grid at once
        rows = np.flatnonzero(grid_of == duration)
        mine = table.take(rows)
        coverage = np.stack([_coverage_rows(mine[_summed(layer)], bucket_count(duration)) for layer in layers], axis=1)
        for i, row in zip(rows.tolist(), coverage):
            out[i] = row
    return out


# Each layer's sparse coverage summed by bucket; and the same negated.
_SUMMED_LAYERS = ", ".join(f"sumMap({layer}) AS {_summed(layer)}" for layer in rollups.LAYERS)
_NEGATED_LAYERS = ", ".join(f"(sumMap({layer}).1, arrayMap(v -> -v, sumMap({layer}).2))" for layer in rollups.LAYERS)


# Counted views of a query's scope and window ({env}, {scope_id}, {start}, {end}, {idle_before}).
_SCOPE_SQL = {
    # {pids}: the asset's registered playback IDs, looked up once per call (_query_params).
    Scope.ASSET: ("((scope = 'asset' AND scope_id = {scope_id:String}) OR (scope = 'playback_id' AND scope_id IN "
                  "{pids:Array(String)} AND (asset_id IS NULL OR asset_id != {scope_id:String})))"),
    Scope.VIDEO: "scope = 'video' AND scope_id = {scope_id:String}",
    Scope.PLAYBACK_ID: "scope = 'playback_id' AND scope_id = {scope_id:String}",
}


def _counted_sql(query: ViewQuery) -> str:
    """The views that count under `query`, its filters included (parameters: _query_params)."""
    return f"{_SCOPE_SQL[query.scope]} AND {_window_sql(query)}"


def _window_sql(query: ViewQuery) -> str:
    """The view rows of the query's environment, window and filters that count (any scope)."""
    return " AND ".join([
        "environment_id = {env:String} AND view_start_ms >= {start:Int64} "
        "AND view_start_ms < {end:Int64} AND reports_ranges AND notEmpty(range_starts) "
        "AND (view_end_ms IS NOT NULL OR received_at_ms < {idle_before:Int64})",
        *_filter_sql(query.filters)[0]])


def _filter_sql(filters: Filters) -> tuple[list[str], dict]:
    return filter_conditions(
        filters,
        # custom_N names are checked by moments.filters, so quoting them inline is safe
        column=lambda d: f"dimensions['{d}']" if d.startswith("custom_") else d,
        member=lambda param, value: f"has({{{param}:Array(String)}}, {value})")


def _unheld_parts(sid: str, other_grids: bool) -> list[tuple[str, str]]:
    """(table, condition) pairs, each a key range by view start, that together pick the
    window's views the rollup rows of the whole partitions [p0, p1) (the grid of `sid`, the
    id a row counts for) do not hold. Ids in {unregistered} have no registered duration;
    other_grids: ids in {others} have rows on other grids."""
    inside = "view_start_ms >= {p0:Int64} AND view_start_ms < {p1:Int64}"
    parts = [("views", "view_start_ms < {p0:Int64}"), ("views", "view_start_ms >= {p1:Int64}"),
             ("open_views", f"{inside} AND (view_end_ms IS NULL OR (has({{unregistered:Array(String)}}, {sid}) "
                            "AND duration_ms = 0))")]
    if other_grids:
        parts.append(("views", f"{inside} AND has({{others:Array(String)}}, {sid}) AND view_end_ms IS NOT NULL "
                               f"AND duration_ms > 0 AND duration_ms != {_GRID_OF.format(sid=sid)}"))
    return parts


# The grid (duration) of the id `sid` among the batch's ids.
_GRID_OF = "transform({sid}, {{ids:Array(String)}}, {{grid_ms:Array(Int64)}}, toInt64(0))"


def _members_sql(query: ViewQuery) -> tuple[str, str]:
    """(condition, sid): the view rows that count for the batch's ids {ids} (the query's scope,
    window and filters), and the id each counts for; a view counts once per id."""
    window = _window_sql(query)
    if query.scope is Scope.ASSET:  # its own rows, or its playback IDs' rows of views of another asset
        owner = "transform(scope_id, {pids:Array(String)}, {owners:Array(String)}, '')"
        member = (f"((scope = 'asset' AND scope_id IN {{ids:Array(String)}}) OR (scope = 'playback_id' "
                  f"AND scope_id IN {{pids:Array(String)}} AND (asset_id IS NULL OR asset_id != {owner})))")
        return f"{member} AND {window}", f"if(scope = 'asset', scope_id, {owner})"
    return f"scope = '{query.scope.value}' AND scope_id IN {{ids:Array(String)}} AND {window}", "scope_id"


def _grained_sql(p0: int, p1: int) -> str:
    """Rollup rows that sum to the 5-minute partitions [p0, p1): whole days, then whole hours,
    then 5-minute rows at the ends (p0, p1 are multiples of 5 minutes)."""
    ranges: list[tuple[int, int, int]] = []

    def split(lo: int, hi: int, level: int) -> None:
        if lo >= hi:
            return
        grain = GRAINS[level]
        if level == 0:
            ranges.append((grain, lo, hi))
            return
        a, b = -(-lo // grain) * grain, hi // grain * grain
        if a >= b:
            split(lo, hi, level - 1)
            return
        ranges.append((grain, a, b))
        split(lo, a, level - 1)
        split(b, hi, level - 1)

    split(p0, p1, len(GRAINS) - 1)
    if not ranges:
        return "0"
    return "(" + " OR ".join(f"(grain_ms = {g} AND partition_ms >= {lo} AND partition_ms < {hi})"
                             for g, lo, hi in ranges) + ")"


def _query_params(query: ViewQuery, executor: Executor) -> dict:
    params = {"env": query.environment_id, "scope_id": query.scope_id, "start": query.start_ms,
              "end": query.end_ms, "idle_before": query.idle_before_ms, **_filter_sql(query.filters)[1]}
    if query.scope is Scope.ASSET:
        params["pids"] = _asset_playback_ids(executor, query.environment_id, query.scope_id)
    return params


def _asset_playback_ids(executor: Executor, environment_id: str, asset_id: str) -> list[str]:
    return executor.query(
        "SELECT playback_id FROM playback_ids FINAL WHERE environment_id = {env:String} AND asset_id = {asset:String}",
        {"env": environment_id, "asset": asset_id})["playback_id"].to_pylist()
