"""The default store: one DuckDB file on disk."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.filters import Filters
from moments.model import DIMENSIONS, Asset, BeaconEvent, Environment, RangeSet, Scope, Token, View
from moments.store import rollups
from moments.engagement.heatmap import bucket_count
from moments.store.base import Coverage, Grid, ViewQuery
from moments.store.filtering import filter_conditions
from moments.store.followed import (ALWAYS_IDLE, SCOPE_COLUMN, FollowedReads, Pending, ReadPrefixes, Sums,
                                    SumsKey, counted_content, summed_coverages)
from moments.store.following import Views
from moments.store.pieces import Piece, range_set_from_arrow
from moments.store.prefix import RollupPrefix
from moments.store.rows import (ENVIRONMENT_COLUMNS, VIEW_COLUMNS, chapters_from_text, chapters_to_text,
                                environment_of, views_from_arrow, views_to_arrow, without_views)
from moments.store.lru import LOOKUP_CACHE_ENTRIES, LRUCache
from moments.store.paging import EXPORT_BATCH_ROWS, KEYSET_AFTER, KEYSET_BEFORE, budgeted_page_sql, keyset_pages

# What rollups need of a view (store/rollups.py).
LAYERS_VERSION = 9  # the schema version whose rollup rows hold every coverage layer (rebuilt from the views)
FOLDS_VERSION = 6  # the schema version that replaced stored beacon events by view folds
ROLLUP_BUILD_BATCH = 200_000
ROLLUP_INPUT = ("asset_id, playback_id, video_id, view_start_ms, view_end_ms, duration_ms, range_starts, "
                "range_ends, reports_ranges, " + ", ".join(DIMENSIONS))
# A rollup row's columns after environment_id (RollupSteps.to_arrow's).
ROLLUP_COLUMNS = ", ".join(["scope", "scope_id", "partition_ms", "duration_ms", "n_views"]
                           + [column for layer in rollups.LAYERS for column in rollups.step_columns(layer)])


HOUSEKEEPING_BATCH = 2_000  # idle views closed per transaction


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) blocks of store/schema/duckdb.sql, in order."""
    text = resources.files("moments.store.schema").joinpath("duckdb.sql").read_text()
    parts = re.split(r"^-- migration (\d+)\s*$", text, flags=re.MULTILINE)
    return [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts), 2)]


class DuckDBStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._conn = duckdb.connect(path)
        # Writes: one connection, one thread at a time (DuckDB serialises writers anyway).
        self._lock = threading.Lock()
        # Reads: a connection of each thread's own, which sees committed data and waits for no
        # writer (DuckDB's MVCC). A commit and a reader's snapshot with the data version it
        # matches are taken under the followed reads' lock, so a snapshot never straddles a commit.
        self._local = threading.local()
        self._readers: list[duckdb.DuckDBPyConnection] = []
        # Rollups of incoming views are computed here while the connection writes the views
        # (DuckDB and numpy release the GIL, so the two use two cores).
        self._rollup_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollups")
        # Read-through caches, kept coherent by the writes below (one process owns the file).
        # Each bounded: a flood of made-up ids must not grow memory (misses of assets are cached).
        # Rollup running sums and the raw views of edge partitions follow commits: a write drops
        # only what it changes, so reads of other content, partitions or environments keep them.
        self._follow = FollowedReads()
        self._pending = Pending()  # what the open transaction changes
        self._tokens: LRUCache[str, Token | None] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._environments: LRUCache[tuple[str, str], Environment | None] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._assets: LRUCache[tuple[str, str, str], Asset | None] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._known_ids: LRUCache[tuple[str, Scope, str], bool] = LRUCache(LOOKUP_CACHE_ENTRIES)
        self._migrate()

    @property
    def local_path(self) -> str | None:
        """The file the store lives in (the beacon journal goes beside it); None in memory."""
        return None if self.path in ("", ":memory:") else self.path

    def _migrate(self) -> None:
        with self._lock:
            self._exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = self._exec("SELECT max(version) FROM schema_version")[0][0] or 0
            for version, sql in migrations():
                if version <= current:
                    continue
                self._exec("BEGIN")
                self._exec(sql)
                if version == LAYERS_VERSION:  # its block made the rollups table anew
                    self._roll_up_stored_views()
                if version == FOLDS_VERSION:
                    self._fold_stored_events()
                self._exec("INSERT INTO schema_version VALUES (?)", [version])
                self._exec("COMMIT")

    def _roll_up_stored_views(self) -> None:
        """Add the rollup rows of every stored view to the (new, empty) rollups table, in the
        migration's transaction (keyset pages: each a query of its own on this connection,
        which sees that transaction): a migration cut short is rolled back whole, and runs again."""
        for (environment_id,) in self._exec("SELECT environment_id FROM environments"):
            index = self._asset_index(environment_id)

            def page(after: tuple[int, str] | None) -> pa.Table:
                keyset = f"AND {KEYSET_AFTER.format(start='$after_start', view='$after_view')}" if after else ""
                params = {"env": environment_id, "limit": ROLLUP_BUILD_BATCH}
                params |= {"after_start": after[0], "after_view": after[1]} if after else {}
                return self._conn.sql(
                    f"SELECT view_id, {ROLLUP_INPUT} FROM views WHERE environment_id = $env AND view_end_ms IS NOT NULL "
                    f"{keyset} ORDER BY view_start_ms, view_id LIMIT $limit", params=params).to_arrow_table()

            for views in keyset_pages(page, ROLLUP_BUILD_BATCH):
                self._apply_rollups(environment_id, rollups.rollup_steps(views, index))

    def _fold_stored_events(self) -> None:
        """Fold each beacon view's stored events into its view_folds row, then drop the events."""
        from moments.ingestion.folds import fold_events  # the one place the store folds: this migration

        batches = self._conn.cursor().sql(
            "SELECT environment_id, view_id, list(struct_pack(sequence, event, fields) ORDER BY sequence) AS events "
            "FROM beacon_events GROUP BY ALL").to_arrow_reader(10_000)
        for batch in batches:
            rows = batch.to_pylist()
            folds = [fold_events(BeaconEvent(row["view_id"], e["sequence"], e["event"], json.loads(e["fields"]))
                                 for e in row["events"]).to_json() for row in rows]
            self._conn.register("folded", pa.table({"environment_id": [r["environment_id"] for r in rows],
                                                    "view_id": [r["view_id"] for r in rows], "fold": folds}))
            try:
                self._exec("INSERT INTO view_folds SELECT environment_id, view_id, fold FROM folded")
            finally:
                self._conn.unregister("folded")
        self._exec("DROP TABLE beacon_events")

    def _exec(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        """Run under the lock's protection; results are always drained (DuckDB 2 needs that)."""
        return self._conn.execute(sql, params).fetchall()

    def _reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's read connection."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._conn.cursor()
            with self._lock:
                self._readers.append(reader)  # closed with the store
        return reader

    def _read(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        return self._reader().execute(sql, params).fetchall()

    def _read_arrow(self, sql: str, params: list | dict | None = None) -> pa.Table:
        return self._reader().sql(sql, params=params).to_arrow_table()

    @contextlib.contextmanager
    def _snapshot(self, environment_id: str) -> Iterator[int]:
        """Run this thread's reads in one snapshot; yields the environment's data version in it."""
        reader = self._reader()
        with self._follow.lock:
            reader.execute("BEGIN TRANSACTION")
            reader.execute("SELECT count(*) FROM schema_version").fetchall()  # the snapshot starts here
            version = self._follow.versions.get(environment_id, 0)
        try:
            yield version
        finally:
            reader.execute("ROLLBACK")

    def _one(self, sql: str, params: list) -> tuple | None:
        rows = self._read(sql, params)
        return rows[0] if rows else None

    def _run(self, sql: str, params: list) -> None:
        with self._lock:
            self._exec(sql, params)

    # environments and tokens -------------------------------------------------

    def create_environment(self, environment: Environment) -> None:
        e = environment
        self._run(
            f"INSERT INTO environments ({ENVIRONMENT_COLUMNS}, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, epoch_ms(now()))",
            [e.environment_id, e.name, e.env_key, e.retention_days, e.rate_limit_per_s, e.rate_limit_burst,
             list(e.allowed_origins)],
        )

    def set_allowed_origins(self, environment_id: str, origins: Sequence[str]) -> None:
        self._run("UPDATE environments SET allowed_origins = ? WHERE environment_id = ?",
                  [list(origins), environment_id])
        self._environments.clear()

    def _environment(self, where: str, value: str) -> Environment | None:
        def load() -> Environment | None:
            row = self._one(f"SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE {where} = ?", [value])
            return environment_of(row) if row else None

        # Environments change only through this store (set_allowed_origins clears the cache);
        # an unknown one may be created later.
        return self._environments.get_or_load((where, value), load, keep=lambda e: e is not None)

    def get_environment(self, environment_id: str) -> Environment | None:
        return self._environment("environment_id", environment_id)

    def environments(self) -> list[Environment]:
        return [environment_of(row) for row in self._read(
            f"SELECT {ENVIRONMENT_COLUMNS} FROM environments ORDER BY created_at_ms")]

    def environment_by_env_key(self, env_key: str) -> Environment | None:
        return self._environment("env_key", env_key)

    def create_token(self, token: Token, created_at_ms: int | None = None) -> None:
        self._run(
            "INSERT INTO tokens VALUES (?, ?, ?, ?, coalesce(?, epoch_ms(now())))",
            [token.token_id, token.environment_id, token.secret_hash, ",".join(token.permissions), created_at_ms],
        )
        self._tokens.put(token.token_id, token)  # it may be cached as unknown

    def get_token(self, token_id: str) -> Token | None:
        def load() -> Token | None:
            row = self._one(
                "SELECT token_id, environment_id, secret_hash, permissions FROM tokens WHERE token_id = ?", [token_id]
            )
            return Token(row[0], row[1], row[2], tuple(p for p in row[3].split(",") if p)) if row else None

        # Tokens change only through this store (which replaces their entries), and unknown ids
        # are cached too, so a lookup takes as long whether the id exists or not.
        return self._tokens.get_or_load(token_id, load)

    def tokens(self, environment_id: str) -> list[tuple[Token, int]]:
        rows = self._read("SELECT token_id, environment_id, secret_hash, permissions, created_at_ms FROM tokens "
                          "WHERE environment_id = ? ORDER BY created_at_ms, token_id", [environment_id])
        return [(Token(r[0], r[1], r[2], tuple(p for p in r[3].split(",") if p)), r[4]) for r in rows]

    def set_token_secret(self, token_id: str, secret_hash: str) -> None:
        self._run("UPDATE tokens SET secret_hash = ? WHERE token_id = ?", [secret_hash, token_id])
        self._tokens.discard(token_id)

    def delete_token(self, token_id: str) -> None:
        self._run("DELETE FROM tokens WHERE token_id = ?", [token_id])
        self._tokens.put(token_id, None)

    def store_secret(self, name: str) -> str:
        with self._lock:
            self._exec("INSERT INTO secrets VALUES (?, ?) ON CONFLICT DO NOTHING", [name, secrets.token_urlsafe(32)])
            return self._exec("SELECT value FROM secrets WHERE name = ?", [name])[0][0]

    # assets -------------------------------------------------------------------

    def put_asset(self, environment_id: str, asset: Asset) -> None:
        with self._lock, self._transaction(environment_id):
            before = {r[0] for r in self._exec(
                "SELECT playback_id FROM playback_ids WHERE environment_id = ? AND asset_id = ?",
                [environment_id, asset.asset_id])}
            # Assets that lose a playback ID to this one: their rows change too.
            losers = {r[0] for r in self._exec(
                "SELECT DISTINCT asset_id FROM playback_ids WHERE environment_id = ? AND list_contains(?, playback_id) "
                "AND asset_id <> ?", [environment_id, list(asset.playback_ids), asset.asset_id])}
            self._exec(
                "INSERT OR REPLACE INTO assets (environment_id, asset_id, duration_ms, playback_url, chapters, "
                "updated_at_ms) VALUES (?, ?, ?, ?, ?, epoch_ms(now()))",
                [environment_id, asset.asset_id, asset.duration_ms, asset.playback_url,
                 chapters_to_text(asset.chapters)],
            )
            self._exec("DELETE FROM playback_ids WHERE environment_id = ? AND asset_id = ?",
                       [environment_id, asset.asset_id])
            for playback_id in asset.playback_ids:
                self._exec("INSERT OR REPLACE INTO playback_ids VALUES (?, ?, ?)",
                           [environment_id, playback_id, asset.asset_id])
            # The asset's duration and playback IDs decide its rows' grid and members.
            self._rebuild_rollups(environment_id, asset.asset_id, before | set(asset.playback_ids))
            for loser in sorted(losers):
                self._rebuild_rollups(environment_id, loser, set())
        self._assets.clear()  # after the commit: a reader meanwhile may have cached the old asset

    def get_asset(self, environment_id: str, asset_id: str) -> Asset | None:
        return self._assets_of(environment_id, [asset_id])[asset_id]

    def _assets_of(self, environment_id: str, asset_ids: Sequence[str]) -> dict[str, Asset | None]:
        """Each id's asset (None: not registered), from the cache or, for those it misses, one query
        (misses are cached too: made-up ids cost one query each, once)."""
        def load(missing: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Asset]:
            rows = self._read(
                "SELECT a.asset_id, a.duration_ms, "
                "  list(p.playback_id ORDER BY p.playback_id) FILTER (WHERE p.playback_id IS NOT NULL), a.playback_url, "
                "  a.chapters "
                "FROM assets a LEFT JOIN playback_ids p USING (environment_id, asset_id) "
                "WHERE a.environment_id = $env AND a.asset_id IN (SELECT unnest($ids)) GROUP BY ALL",
                {"env": environment_id, "ids": [key[2] for key in missing]})
            return {(environment_id, "asset", row[0]): Asset(row[0], row[1], tuple(row[2] or ()), row[3],
                                                             chapters_from_text(row[4])) for row in rows}

        found = self._assets.get_or_load_many([(environment_id, "asset", asset_id) for asset_id in asset_ids], load)
        return {key[2]: asset for key, asset in found.items()}

    def asset_for_playback_id(self, environment_id: str, playback_id: str) -> Asset | None:
        def load() -> Asset | None:
            row = self._one(
                "SELECT asset_id FROM playback_ids WHERE environment_id = ? AND playback_id = ?",
                [environment_id, playback_id],
            )
            return self.get_asset(environment_id, row[0]) if row else None

        return self._assets.get_or_load((environment_id, "playback_id", playback_id), load)

    # views --------------------------------------------------------------------

    def upsert_views(self, environment_id: str, views: Sequence[View], received_at_ms: int) -> set[str]:
        latest = {v.view_id: v for v in views}  # the last version of a view in one batch wins
        if not latest:
            return set()
        return self.bulk_upsert_views(views_to_arrow(environment_id, list(latest.values()), received_at_ms))

    def bulk_upsert_views(self, table: pa.Table) -> set[str]:
        """The bulk path: an Arrow table with VIEW_COLUMNS (one environment, unique view_ids)."""
        environment_id = table["environment_id"][0].as_py()
        with self._lock, self._transaction(environment_id, noted=True):
            refused = self._owned_elsewhere(environment_id, table["view_id"], from_beacons=False)
            self._write_views(environment_id, without_views(table, refused))
        return refused

    def _owned_elsewhere(self, environment_id: str, view_ids: pa.ChunkedArray | pa.Array, from_beacons: bool) -> set[str]:
        """Those of these ids the other source stored: imported views when writing beacon views
        (`from_beacons`), beacon views when importing. Read in the writer's transaction, so no
        write of the other source slips in between. A beacon view carries the time of its latest
        event; an imported one never does."""
        self._conn.register("asked_ids", pa.table({"view_id": view_ids}))
        try:
            return {row[0] for row in self._exec(
                "SELECT view_id FROM views JOIN asked_ids USING (view_id) WHERE environment_id = ? "
                f"AND last_event_ms IS {'' if from_beacons else 'NOT '}NULL", [environment_id])}
        finally:
            self._conn.unregister("asked_ids")

    def _write_views(self, environment_id: str, table: pa.Table) -> None:
        """Store views, in the caller's transaction: a replaced view's old rollup share is
        taken out and its new one added. `views` has no key index (migration 7): the stored
        versions of incoming view_ids are deleted first, which keeps view_id unique."""
        if table.num_rows == 0:
            return
        index = self._asset_index(environment_id)
        incoming = self._rollup_worker.submit(rollups.rollup_steps, table, index)
        self._conn.register("incoming_views", table)
        try:
            old = self._conn.sql(
                "DELETE FROM views WHERE environment_id = $env AND view_id IN (SELECT view_id FROM incoming_views) "
                f"RETURNING {ROLLUP_INPUT}", params={"env": environment_id},
            ).to_arrow_table()
            if old.num_rows:
                self._exec("DELETE FROM unrolled_views WHERE environment_id = $env "
                           "AND view_id IN (SELECT view_id FROM incoming_views)", {"env": environment_id})
            self._exec(f"INSERT INTO views SELECT {', '.join(VIEW_COLUMNS)} FROM incoming_views")
            self._exec(f"INSERT INTO unrolled_views SELECT environment_id, view_id, view_start_ms "
                       f"FROM incoming_views WHERE {_UNROLLED_SQL}")
        finally:
            self._conn.unregister("incoming_views")
        self._pending.note_views(environment_id, table)
        self._pending.note_views(environment_id, old)
        if old.num_rows:  # a replaced view may take the last trace of an id with it
            self._known_ids.clear()
        self._apply_rollups(environment_id, rollups.RollupSteps.summed(
            [(incoming.result(), 1), (rollups.rollup_steps(old, index), -1)]))

    @contextlib.contextmanager
    def _transaction(self, *environment_ids: str, noted: bool = False) -> Iterator[set[str]]:
        """One transaction. It yields the set of environments it changes (`environment_ids`,
        and any the body adds): their data versions move when it commits. With `noted`, the body
        notes what it changes (in `_pending`), and cached reads of anything else stay; else every
        cached read of those environments goes."""
        touched = set(environment_ids)
        self._pending = Pending()
        self._exec("BEGIN")
        try:
            yield touched
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed ROLLBACK must not hide why
                self._exec("ROLLBACK")
            raise
        finally:
            pending, self._pending = self._pending, Pending()
        self._follow.committed(pending, touched, noted, commit=lambda: self._exec("COMMIT"))

    def data_version(self, environment_id: str) -> int | None:
        """Moves with every committed change of the environment's views, assets or rollups
        (this process owns the file)."""
        return self._follow.versions.get(environment_id, 0)

    def _asset_index(self, environment_id: str) -> rollups.AssetIndex:
        assets = dict(self._exec(
            "SELECT asset_id, duration_ms FROM assets WHERE environment_id = ? AND duration_ms > 0", [environment_id]))
        playback = self._exec(
            "SELECT p.playback_id, p.asset_id, a.duration_ms FROM playback_ids p JOIN assets a "
            "USING (environment_id, asset_id) WHERE p.environment_id = ?", [environment_id])
        return rollups.AssetIndex(assets, {pid: (asset, duration) for pid, asset, duration in playback})

    def _apply_rollups(self, environment_id: str, deltas: rollups.RollupSteps) -> None:
        """Add deltas to the stored rows, in the caller's transaction; rows that reach zero views
        go away. `rollups` has no key index (migration 7): the stored rows of the touched keys
        are read and deleted, then written back summed with the deltas, one row per key."""
        deltas = deltas.changes()
        if not deltas.keys:
            return
        self._pending.note_deltas(environment_id, deltas)
        self._conn.register("rollup_keys", deltas.to_arrow().select(["scope", "scope_id", "partition_ms", "duration_ms"]))
        try:
            stored = self._conn.sql(
                "DELETE FROM rollups WHERE environment_id = $env AND (scope, scope_id, partition_ms, duration_ms) "
                "IN (SELECT (scope, scope_id, partition_ms, duration_ms) FROM rollup_keys) "
                f"RETURNING {ROLLUP_COLUMNS}",
                params={"env": environment_id},
            ).to_arrow_table()
        finally:
            self._conn.unregister("rollup_keys")
        totals = rollups.RollupSteps.summed([(deltas, 1), (rollups.RollupSteps.from_arrow(stored), 1)])
        rows = totals.where(totals.n_views > 0).to_arrow()
        if rows.num_rows == 0:
            return
        self._conn.register("rollup_rows", rows)
        try:
            self._exec(f"INSERT INTO rollups (environment_id, {ROLLUP_COLUMNS}) SELECT $env, {ROLLUP_COLUMNS} "
                       "FROM rollup_rows", {"env": environment_id})
        finally:
            self._conn.unregister("rollup_rows")

    def _rebuild_rollups(self, environment_id: str, asset_id: str, playback_ids: set[str]) -> None:
        """Recompute the asset's rows and these playback IDs' rows from the raw views (in a
        transaction that is not `noted`: every cached read of the environment goes)."""
        self._exec(
            "DELETE FROM rollups WHERE environment_id = $env AND ((split_part(scope, '|', 1) = 'asset' "
            "AND scope_id = $asset) OR (split_part(scope, '|', 1) = 'playback_id' AND list_contains($pids, scope_id)))",
            {"env": environment_id, "asset": asset_id, "pids": sorted(playback_ids)},
        )
        views = self._conn.sql(
            f"SELECT {ROLLUP_INPUT} FROM views WHERE environment_id = $env AND (asset_id = $asset "
            "OR list_contains($pids, playback_id) OR playback_id IN (SELECT playback_id FROM playback_ids "
            "WHERE environment_id = $env AND asset_id = $asset))",
            params={"env": environment_id, "asset": asset_id, "pids": sorted(playback_ids)},
        ).to_arrow_table()
        rebuilt = rollups.rollup_steps(views, self._asset_index(environment_id))
        self._apply_rollups(environment_id, rebuilt.where(np.array(
            [(rollups.base_scope(k[0]) == "asset" and k[1] == asset_id)
             or (rollups.base_scope(k[0]) == "playback_id" and k[1] in playback_ids) for k in rebuilt.keys], dtype=bool)))

    def get_view(self, environment_id: str, view_id: str) -> View | None:
        table = self._read_arrow(
            f"SELECT {', '.join(VIEW_COLUMNS)} FROM views WHERE environment_id = $env AND view_id = $view",
            {"env": environment_id, "view": view_id})
        return views_from_arrow(table)[0] if table.num_rows else None

    def scope_exists(self, environment_id: str, scope: Scope, scope_id: str) -> bool:
        # Only ids that exist are remembered: ids only disappear through retention or replaced
        # views, which clear this; an unknown id may get views any time.
        return self._known_ids.get_or_load((environment_id, scope, scope_id),
                                           lambda: self._scope_exists(environment_id, scope, scope_id), keep=bool)

    def _scope_exists(self, environment_id: str, scope: Scope, scope_id: str) -> bool:
        if scope is Scope.ASSET:
            sql = (
                "SELECT EXISTS (SELECT 1 FROM assets WHERE environment_id = $1 AND asset_id = $2) "
                "OR EXISTS (SELECT 1 FROM views WHERE environment_id = $1 AND asset_id = $2)"
            )
        elif scope is Scope.PLAYBACK_ID:
            sql = (
                "SELECT EXISTS (SELECT 1 FROM playback_ids WHERE environment_id = $1 AND playback_id = $2) "
                "OR EXISTS (SELECT 1 FROM views WHERE environment_id = $1 AND playback_id = $2)"
            )
        else:
            sql = "SELECT EXISTS (SELECT 1 FROM views WHERE environment_id = $1 AND video_id = $2)"
        return bool(self._one(sql, [environment_id, scope_id])[0])

    def assets_of_video(self, environment_id: str, video_id: str, limit: int) -> list[str]:
        rows = self._read(
            "SELECT DISTINCT coalesce(nullif(v.asset_id, ''), p.asset_id) AS asset FROM views v "
            "LEFT JOIN playback_ids p ON p.environment_id = v.environment_id AND p.playback_id = v.playback_id "
            "WHERE v.environment_id = $env AND v.video_id = $video AND asset IS NOT NULL ORDER BY asset LIMIT $limit",
            {"env": environment_id, "video": video_id, "limit": limit})
        return [row[0] for row in rows]

    def list_scope_ids(self, environment_id: str, scope: Scope, search: str | None, limit: int) -> list[tuple[str, int]]:
        column = {Scope.ASSET: "asset_id", Scope.VIDEO: "video_id", Scope.PLAYBACK_ID: "playback_id"}[scope]
        registered = {
            Scope.ASSET: "SELECT asset_id AS id FROM assets WHERE environment_id = $env",
            Scope.PLAYBACK_ID: "SELECT playback_id AS id FROM playback_ids WHERE environment_id = $env",
            Scope.VIDEO: "SELECT NULL::VARCHAR AS id WHERE false",
        }[scope]
        sql = (
            f"WITH seen AS (SELECT {column} AS id, count(*) AS views FROM views "
            f"WHERE environment_id = $env AND {column} IS NOT NULL GROUP BY ALL), "
            f"ids AS ({registered} UNION SELECT id FROM seen) "
            "SELECT ids.id, coalesce(seen.views, 0) FROM ids LEFT JOIN seen USING (id) "
            "WHERE $search IS NULL OR contains(lower(ids.id), lower($search)) "
            "ORDER BY 2 DESC, 1 LIMIT $limit"
        )
        rows = self._read(sql, {"env": environment_id, "search": search, "limit": limit})
        return [(row[0], int(row[1])) for row in rows]

    def scope_durations(self, environment_id: str, scope: Scope, min_ms: int, max_ms: int,
                        limit: int) -> list[tuple[str, int, int]]:
        column = {Scope.ASSET: "asset_id", Scope.VIDEO: "video_id", Scope.PLAYBACK_ID: "playback_id"}[scope]
        registered = {
            Scope.ASSET: "SELECT asset_id AS id, duration_ms AS d FROM assets WHERE environment_id = $env",
            Scope.PLAYBACK_ID: "SELECT p.playback_id AS id, a.duration_ms AS d FROM playback_ids p JOIN assets a "
                               "USING (environment_id, asset_id) WHERE p.environment_id = $env",
            Scope.VIDEO: "SELECT NULL::VARCHAR AS id, NULL::BIGINT AS d WHERE false",
        }[scope]
        # Median of the reported durations: the two middle values averaged (rounded down), as on ClickHouse.
        sql = (
            f"WITH seen AS (SELECT {column} AS id, count(*) AS views, "
            f"(quantile_disc(duration_ms, 0.5) - quantile_disc(-duration_ms, 0.5)) // 2 AS reported FROM views "
            f"WHERE environment_id = $env AND {column} IS NOT NULL GROUP BY ALL), "
            f"reg AS ({registered}), "
            "ids AS (SELECT id, coalesce(reg.d, seen.reported) AS d, coalesce(seen.views, 0) AS views "
            "FROM seen FULL JOIN reg USING (id)) "
            "SELECT id, d, views FROM ids WHERE d BETWEEN $min AND $max ORDER BY views DESC, id LIMIT $limit"
        )
        params = {"env": environment_id, "min": min_ms, "max": max_ms, "limit": limit}
        rows = self._read(sql, params)
        return [(row[0], int(row[1]), int(row[2])) for row in rows]

    def view_ranges(self, query: ViewQuery) -> RangeSet:
        sql = f"SELECT range_starts, range_ends, duration_ms FROM views WHERE {_counted_sql(query)}"
        return range_set_from_arrow(self._read_arrow(sql, _query_params(query)))

    def list_views(self, query: ViewQuery, limit: int, after: tuple[int, str] | None, max_ranges: int) -> list[View]:
        # The same condition as view_ranges, so a listing holds exactly the views the heatmap counts.
        where = _counted_sql(query)
        params = {**_query_params(query), "limit": limit, "max_ranges": max_ranges}
        if after is not None:
            where += f" AND {KEYSET_BEFORE.format(start='$after_start', view='$after_view')}"
            params |= {"after_start": after[0], "after_view": after[1]}
        sql = (f"SELECT {', '.join(VIEW_COLUMNS)} FROM views WHERE {where} AND view_id IN "
               f"({budgeted_page_sql('views', where, '$limit', '$max_ranges')}) ORDER BY view_start_ms DESC, view_id DESC")
        return views_from_arrow(self._read_arrow(sql, params))

    def count_views(self, query: ViewQuery) -> int:
        return int(self._one(f"SELECT count(*) FROM views WHERE {_counted_sql(query)}", _query_params(query))[0])

    def export_views(self, environment_id: str, start_ms: int, end_ms: int, scope: Scope | None = None,
                     scope_id: str | None = None, filters: Filters = (),
                     batch_rows: int = EXPORT_BATCH_ROWS, in_progress: bool = False) -> Iterator[pa.Table]:
        conditions, params = _filter_sql(filters)
        conditions = ["environment_id = $env AND view_start_ms >= $start AND view_start_ms < $end",
                      *([] if in_progress else ["view_end_ms IS NOT NULL"]), *([_SCOPE_SQL[scope]] if scope else []),
                      *conditions]
        params |= {"env": environment_id, "start": start_ms, "end": end_ms, "limit": batch_rows}
        if scope:
            params["scope_id"] = scope_id

        def page(after: tuple[int, str] | None) -> pa.Table:
            keyset = [KEYSET_AFTER.format(start="$after_start", view="$after_view")] if after else []
            sql = (f"SELECT {', '.join(VIEW_COLUMNS)} FROM views WHERE {' AND '.join(conditions + keyset)} "
                   "ORDER BY view_start_ms, view_id LIMIT $limit")
            values = params | ({"after_start": after[0], "after_view": after[1]} if after else {})
            return self._read_arrow(sql, values)

        return keyset_pages(page, batch_rows)

    def _prefix_reader(self, environment_id: str) -> ReadPrefixes:
        """Running sums of rollup rows read in this thread's snapshot: one query for the keys
        missing (the columns of the layers missing only), summed one key at a time."""

        def read(missing: dict[SumsKey, list[str]]) -> Iterator[tuple[SumsKey, str, RollupPrefix]]:
            layers = [layer for layer in rollups.LAYERS if any(layer in wanted for wanted in missing.values())]
            columns = ", ".join(column for layer in layers for column in rollups.step_columns(layer))
            rows = self._read_arrow(
                f"SELECT k, partition_ms, n_views, {columns} FROM rollups JOIN (SELECT unnest($scopes) AS k_scope, "
                "unnest($ids) AS k_id, unnest($durations) AS k_ms, unnest(range(len($ids))) AS k) "
                "ON scope = k_scope AND scope_id = k_id AND duration_ms = k_ms "
                "WHERE environment_id = $env ORDER BY k, partition_ms",
                {"env": environment_id, "scopes": [key[0] for key in missing], "ids": [key[1] for key in missing],
                 "durations": [key[2] for key in missing]})
            bounds = np.searchsorted(rows["k"].to_numpy(), np.arange(len(missing) + 1))
            for i, (key, wanted) in enumerate(missing.items()):
                for layer in wanted:
                    yield key, layer, RollupPrefix.of(rows.slice(bounds[i], bounds[i + 1] - bounds[i]),
                                                      bucket_count(key[2]), layer)

        return read

    def duration_histogram(self, query: ViewQuery) -> list[tuple[int, int]]:
        return self.duration_histograms(query, [query.scope_id]).get(query.scope_id, [])

    def duration_histograms(self, query: ViewQuery, scope_ids: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        if not scope_ids:
            return {}
        plan, parts = rollups.query_plan(query, rollups.SLICE_PARTITION_MS)
        params = {**_window_params(query), **_grid_params({i: Grid(0, False) for i in scope_ids}),
                  "p0": parts[0], "p1": parts[1], **plan.params()}
        sql = (
            f"WITH {_GRIDS} SELECT sid, duration_ms, sum(n) FROM ("
            "  SELECT scope_id AS sid, duration_ms, "
            "  n_views * (CASE WHEN list_contains($minus, scope) THEN -1 ELSE 1 END) AS n "
            "  FROM rollups JOIN grids ON scope_id = sid WHERE environment_id = $env AND list_contains($scopes, scope) "
            "  AND partition_ms >= $p0 AND partition_ms < $p1"
            "  UNION ALL "
            + " UNION ALL ".join(_member_views(query, "duration_ms, 1 AS n", part)
                                 for part in _unheld_parts(registered="false", other_grids="false"))
            + ") GROUP BY sid, duration_ms HAVING sum(n) > 0 ORDER BY sid, duration_ms"
        )
        histograms: dict[str, list[tuple[int, int]]] = {}
        for scope_id, duration, n in self._read(sql, params):
            histograms.setdefault(scope_id, []).append((int(duration), int(n)))
        return histograms

    def registered_durations(self, environment_id: str, scope: Scope, scope_ids: Sequence[str]) -> dict[str, int | None]:
        if scope is Scope.ASSET:
            assets = self._assets_of(environment_id, scope_ids)
        elif scope is Scope.PLAYBACK_ID:
            assets = {scope_id: self.asset_for_playback_id(environment_id, scope_id) for scope_id in scope_ids}
        else:
            return {}
        return {scope_id: asset.duration_ms for scope_id, asset in assets.items() if asset is not None}

    def coverage(self, query: ViewQuery, duration_ms: int, registered: bool, *, layers: bool = False) -> Coverage:
        return self.coverages(query, {query.scope_id: Grid(duration_ms, registered)}, layers=layers)[query.scope_id]

    def coverages(self, query: ViewQuery, grids: Mapping[str, Grid], *, layers: bool = False) -> dict[str, Coverage]:
        if not grids:
            return {}
        plan, parts = rollups.query_plan(query, rollups.SLICE_PARTITION_MS)
        read = rollups.layers_read(layers)
        keys = [(term, scope_id, grid.duration_ms) for scope_id, grid in grids.items() for term, _ in plan.terms]
        if plan.terms and all(grid.registered for grid in grids.values()):
            sums, raw = self._followed(query, grids, plan.grain, parts, keys, read)
        else:
            sums, raw = self._read_coverages(query, grids, plan, parts, keys, read)
        return summed_coverages(plan, grids, read, sums, raw)

    def _read_coverages(self, query: ViewQuery, grids: Mapping[str, Grid], plan: rollups.RollupPlan,
                        parts: tuple[int, int], keys: list[tuple[str, str, int]], read: tuple[str, ...],
                        ) -> tuple[dict[tuple[str, str, int], tuple[int, np.ndarray]], dict[str, RangeSet]]:
        """Rollup sums and each id's views read raw, for any query: the raw views are read in
        SQL each time."""
        params = {**_window_params(query), **_grid_params(grids), "p0": parts[0], "p1": parts[1]}
        # One snapshot for the rollup sums and the raw reads: a view that a commit moves
        # from the raw side into rollups counts once, never twice or not at all.
        with self._snapshot(query.environment_id) as version:
            sums = self._follow.sums(query.environment_id, keys, read, version, parts,
                                     self._prefix_reader(query.environment_id))
            # Without a registered duration, views on other grids are read raw, if there are any.
            others = {row[0] for row in self._read(
                f"WITH {_GRIDS} SELECT DISTINCT sid FROM rollups JOIN grids ON scope_id = sid "
                "WHERE NOT grid_registered AND environment_id = $env AND list_contains($scopes, scope) "
                "AND partition_ms >= $p0 AND partition_ms < $p1 AND duration_ms <> grid_ms",
                {**_grid_params(grids), "env": query.environment_id, "scopes": plan.params()["scopes"],
                 "p0": parts[0], "p1": parts[1]})
                } if not all(grid.registered for grid in grids.values()) else set()
            params["grid_others"] = [scope_id in others for scope_id in grids]
            table = self._read_arrow(f"WITH {_GRIDS} " + " UNION ALL ".join(
                _member_views(query, RAW_COLUMNS, part)
                for part in _unheld_parts("grid_registered", "grid_others" if others else "false")), params)
        table = table.sort_by("sid")
        ids = table["sid"].to_numpy(zero_copy_only=False)
        bounds = {scope_id: (np.searchsorted(ids, scope_id, side="left"), np.searchsorted(ids, scope_id, side="right"))
                  for scope_id in grids}
        return sums, {scope_id: range_set_from_arrow(table.slice(a, b - a)) for scope_id, (a, b) in bounds.items()}

    def _followed(self, query: ViewQuery, grids: Mapping[str, Grid], grain: int, parts: tuple[int, int],
                  keys: list[SumsKey], read: tuple[str, ...]) -> tuple[Sums, dict[str, RangeSet]]:
        """What _read_coverages returns, for ids with registered durations, from reads cached
        whole and followed across commits (store/followed.py)."""
        assets = self._assets_of(query.environment_id, list(grids)) if query.scope is Scope.ASSET else {}
        return self._follow.coverage_parts(
            query, grids, grain, parts, keys, read, counted_content(query.scope, grids, assets), self._snapshot,
            self._prefix_reader(query.environment_id), functools.partial(self._piece, query, grids))

    def _piece(self, query: ViewQuery, grids: Mapping[str, Grid], depends: Views) -> Piece:
        """The candidate views of one raw piece, read in this thread's snapshot: every view of the
        ids starting in [depends.lo, depends.hi) (in progress only if depends.open_only), idle or
        not (each query applies its window and idleness)."""
        # One scan with the ids as a list, each view's id (or ids) found here: a join per way a
        # view can count (_member_views) costs about three times the scan.
        column = SCOPE_COLUMN[query.scope]
        owners = {playback_id: asset.asset_id for asset in self._assets_of(query.environment_id, list(grids)).values()
                  if asset for playback_id in asset.playback_ids} if query.scope is Scope.ASSET else {}
        member = f"(list_contains($ids, {column}) OR list_contains($owned, playback_id))"
        part = _OPEN_PART if depends.open_only else "true"
        params = {**_window_params(query), "start": depends.lo, "end": depends.hi, "idle_before": ALWAYS_IDLE,
                  "ids": list(grids), "owned": list(owners)}
        views = self._read_arrow(f"SELECT {column} AS own, playback_id, {RAW_PIECE_COLUMNS} FROM views "
                                 f"WHERE {_window_sql(query)} AND {part} AND {member}", params)
        return Piece.of(_counted_for(views, list(grids), owners))

    def finalize_idle_views(self, idle_before_ms: int) -> int:
        """Close idle views HOUSEKEEPING_BATCH at a time, one transaction each, so readers and
        the beacon writer wait for one batch at most, never for the whole backlog."""
        closed = 0
        while (n := self._finalize_batch(idle_before_ms)) > 0:
            closed += n
        return closed

    def _finalize_batch(self, idle_before_ms: int) -> int:
        with self._lock, self._transaction(noted=True) as touched:
            closed = self._conn.sql(
                "UPDATE views SET view_end_ms = greatest(view_start_ms, coalesce(last_event_ms, view_start_ms)) "
                "WHERE (environment_id, view_id) IN (SELECT (environment_id, view_id) FROM views "
                "  WHERE view_end_ms IS NULL AND received_at_ms < $cutoff LIMIT $batch) "
                f"RETURNING environment_id, view_id, {ROLLUP_INPUT}",
                params={"cutoff": idle_before_ms, "batch": HOUSEKEEPING_BATCH},
            ).to_arrow_table()
            self._conn.register("closed_views", closed)
            try:  # closed views with a duration now sit in rollups
                self._exec("DELETE FROM unrolled_views WHERE (environment_id, view_id) IN "
                           "(SELECT (environment_id, view_id) FROM closed_views WHERE duration_ms > 0)")
            finally:
                self._conn.unregister("closed_views")
            for environment_id in set(closed["environment_id"].to_pylist()):
                mine = closed.filter(pc.equal(closed["environment_id"], environment_id))
                self._pending.note_views(environment_id, mine, were_open=True)
                self._apply_rollups(environment_id, rollups.rollup_steps(mine, self._asset_index(environment_id)))
                touched.add(environment_id)
        return closed.num_rows

    def expire(self, now_ms: int) -> int:
        """Drop views (and their rollups and folds) older than each environment's retention.

        Whole partitions only, so rollups and raw views never disagree about one; one hour of
        view starts per transaction, so a long-overdue expiry never holds the file for long.
        """
        removed = 0
        environments = self._read("SELECT environment_id, retention_days FROM environments")
        for environment_id, retention_days in environments:
            # Whole slice partitions (hours), which are whole 5-minute partitions too.
            cutoff = int(rollups.partition_of(now_ms - retention_days * 86_400_000, rollups.SLICE_PARTITION_MS))
            oldest = self._read("SELECT min(view_start_ms) FROM views WHERE environment_id = ?", [environment_id])[0][0]
            step = int(rollups.partition_of(oldest, rollups.SLICE_PARTITION_MS)) if oldest is not None else cutoff
            while step < cutoff:
                step = min(step + rollups.SLICE_PARTITION_MS, cutoff)
                removed += self._expire_before(environment_id, step)
        return removed

    def _expire_before(self, environment_id: str, cutoff: int) -> int:
        with self._lock, self._transaction() as touched:
            params = {"env": environment_id, "cutoff": cutoff}
            self._exec(
                "DELETE FROM view_folds WHERE environment_id = $env AND view_id IN (SELECT view_id FROM views "
                "WHERE environment_id = $env AND view_start_ms < $cutoff)", params)
            removed = len(self._exec(
                "DELETE FROM views WHERE environment_id = $env AND view_start_ms < $cutoff RETURNING 1", params))
            self._exec("DELETE FROM unrolled_views WHERE environment_id = $env AND view_start_ms < $cutoff", params)
            self._exec("DELETE FROM rollups WHERE environment_id = $env AND partition_ms < $cutoff", params)
            if removed:
                touched.add(environment_id)
                self._known_ids.clear()
        return removed

    # beacon views -----------------------------------------------------------------

    def view_folds(self, environment_id: str, view_ids: Sequence[str]) -> dict[str, str]:
        reader = self._reader()
        # A hash join: list_contains would compare each stored id with every asked one.
        reader.register("asked_folds", pa.table({"view_id": pa.array(list(view_ids), pa.string())}))
        try:
            return dict(reader.execute("SELECT view_id, fold FROM view_folds JOIN asked_folds USING (view_id) "
                                       "WHERE environment_id = ?", [environment_id]).fetchall())
        finally:
            reader.unregister("asked_folds")

    def upsert_beacon_views(self, environment_id: str, views: Sequence[View], folds: Sequence[str],
                            received_at_ms: Sequence[int]) -> set[str]:
        if not views:
            return set()
        table = views_to_arrow(environment_id, views, received_at_ms)
        with self._lock, self._transaction(environment_id, noted=True):
            refused = self._owned_elsewhere(environment_id, table["view_id"], from_beacons=True)
            self._write_views(environment_id, without_views(table, refused))
            kept = [(v.view_id, fold) for v, fold in zip(views, folds) if v.view_id not in refused]
            self._conn.register("incoming_folds", pa.table({"view_id": [v for v, _ in kept],
                                                            "fold": [f for _, f in kept]}))
            try:
                self._exec("INSERT OR REPLACE INTO view_folds SELECT $env, view_id, fold FROM incoming_folds",
                           {"env": environment_id})
            finally:
                self._conn.unregister("incoming_folds")
        return refused

    def backup(self, path: str) -> None:
        """Copy the whole store into a new DuckDB file at `path`, as of one snapshot: reads and
        writes go on meanwhile (MVCC), and each write is in the copy wholly or not at all. The
        copy is written beside `path` and renamed into place, so `path` is never half a copy."""
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        if target.exists() or partial.exists():
            raise FileExistsError(f"{target} already exists")
        alias = f"backup_{uuid.uuid4().hex}"
        connection = self._conn.cursor()  # a connection of its own: the writer's lock is not taken
        try:
            database = connection.execute("SELECT current_database()").fetchall()[0][0]
            connection.execute(f"ATTACH '{str(partial).replace(chr(39), chr(39) * 2)}' AS {alias}")
            try:
                connection.execute("BEGIN TRANSACTION")  # the snapshot: every table as of one moment
                connection.execute(f'COPY FROM DATABASE "{database}" TO {alias}')
                connection.execute("COMMIT")
            except duckdb.Error as error:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                    connection.execute("ROLLBACK")
                if isinstance(error, duckdb.IOException):  # a full disk, say: OSError, as the Protocol says
                    raise OSError(str(error)) from error
                raise
            finally:
                connection.execute(f"DETACH {alias}")  # checkpoints the copy: no .wal beside it
            with open(partial, "rb") as copy:
                os.fsync(copy.fileno())
            partial.replace(target)
        finally:
            connection.close()
            partial.unlink(missing_ok=True)
            Path(f"{partial}.wal").unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._conn.close()
        self._rollup_worker.shutdown()


# Counted views of a query's scope and window ($env, $scope_id, $start, $end, $idle_before).
_SCOPE_SQL = {
    Scope.ASSET: ("(asset_id = $scope_id OR playback_id IN (SELECT playback_id FROM playback_ids "
                  "WHERE environment_id = $env AND asset_id = $scope_id))"),
    Scope.VIDEO: "video_id = $scope_id",
    Scope.PLAYBACK_ID: "playback_id = $scope_id",
}
# Views some scope's rollups cannot hold: in progress, or no duration to grid by.
_UNROLLED_SQL = "view_end_ms IS NULL OR duration_ms = 0"


def _unheld_parts(registered: str, other_grids: str) -> list[str]:
    """Conditions, each prunable by view start, that together pick the window's views the
    rollup rows of the whole partitions [$p0, $p1) (on grid grid_ms) do not hold; `registered`
    and `other_grids` are SQL booleans (columns of `grids`, or literals)."""
    inside = "view_start_ms >= $p0 AND view_start_ms < $p1"
    unrolled = (f"{inside} AND view_id IN (SELECT view_id FROM unrolled_views WHERE environment_id = $env "
                f"AND {inside}) AND (view_end_ms IS NULL OR (NOT {registered} AND duration_ms = 0))")
    parts = ["view_start_ms < $p0", "view_start_ms >= $p1", unrolled]
    if other_grids != "false":
        parts.append(f"{inside} AND {other_grids} AND view_end_ms IS NOT NULL AND duration_ms > 0 "
                     "AND duration_ms <> grid_ms")
    return parts


# The raw side of a coverage query, and the cached pieces it is picked from (with each view's
# start and whether it is still open, to apply a window and idleness to).
RAW_COLUMNS = "range_starts, range_ends, duration_ms"
RAW_PIECE_COLUMNS = f"view_start_ms, view_end_ms IS NULL AS open, received_at_ms, {RAW_COLUMNS}"
_OPEN_PART = "view_end_ms IS NULL AND view_id IN (SELECT view_id FROM unrolled_views WHERE environment_id = $env)"


def _counted_for(views: pa.Table, scope_ids: list[str], owners: dict[str, str]) -> pa.Table:
    """`views` (own: the id of the query's scope; playback_id) as one row per id of `scope_ids`
    each counts for, in column sid: its own id, and the asset its playback ID is registered to
    when that is another one (the two ways of _member_views)."""
    own = views.filter(pc.is_in(views["own"], pa.array(scope_ids, pa.string())))
    owner = pc.take(pa.array(list(owners.values()), pa.string()),
                    pc.index_in(views["playback_id"], pa.array(list(owners), pa.string())))
    via = pc.and_(pc.is_valid(owner), pc.invert(pc.fill_null(pc.equal(owner, views["own"]), False)))
    return pa.concat_tables([own.append_column("sid", own["own"]),
                             views.filter(via).append_column("sid", owner.filter(via))])


# The ids a batch asks for, with their grids (parameters: _grid_params).
_GRIDS = ("grids AS (SELECT unnest($ids) AS sid, unnest($grid_ms) AS grid_ms, "
          "unnest($grid_registered) AS grid_registered, unnest($grid_others) AS grid_others)")


def _grid_params(grids: Mapping[str, Grid]) -> dict:
    return {"ids": list(grids), "grid_ms": [g.duration_ms for g in grids.values()],
            "grid_registered": [g.registered for g in grids.values()], "grid_others": [False] * len(grids)}


def _member_views(query: ViewQuery, columns: str, part: str) -> str:
    """sid, `columns` of the views that count for each id of `grids` (the query's scope, window
    and filters) and meet `part`: a view counted for two ids comes once for each."""
    counted = f"{_window_sql(query)} AND {part}"
    if query.scope is Scope.ASSET:  # by asset id, or through a playback ID registered to another asset
        return (f"SELECT sid, {columns} FROM views JOIN grids ON asset_id = sid WHERE {counted} UNION ALL "
                f"SELECT sid, {columns} FROM views JOIN (SELECT playback_id AS via, asset_id AS owner FROM playback_ids "
                f"WHERE environment_id = $env) ON playback_id = via JOIN grids ON owner = sid "
                f"WHERE {counted} AND asset_id IS DISTINCT FROM sid")
    column = {Scope.VIDEO: "video_id", Scope.PLAYBACK_ID: "playback_id"}[query.scope]
    return f"SELECT sid, {columns} FROM views JOIN grids ON {column} = sid WHERE {counted}"


def _counted_sql(query: ViewQuery) -> str:
    """The views that count under `query`, its filters included (parameters: _query_params)."""
    return f"{_SCOPE_SQL[query.scope]} AND {_window_sql(query)}"


def _window_sql(query: ViewQuery) -> str:
    """The views of the query's environment, window and filters that count (any scope id)."""
    return " AND ".join([
        "environment_id = $env AND view_start_ms >= $start AND view_start_ms < $end "
        "AND reports_ranges AND len(range_starts) > 0 AND (view_end_ms IS NOT NULL OR received_at_ms < $idle_before)",
        *_filter_sql(query.filters)[0]])


def _filter_sql(filters: Filters) -> tuple[list[str], dict]:
    return filter_conditions(
        filters,
        # custom_N names are checked by moments.filters, so quoting them inline is safe
        column=lambda d: f"map_extract_value(dimensions, '{d}')" if d.startswith("custom_") else d,
        member=lambda param, value: f"list_contains(${param}, {value})")


def _query_params(query: ViewQuery) -> dict:
    return {"scope_id": query.scope_id, **_window_params(query)}


def _window_params(query: ViewQuery) -> dict:
    return {"env": query.environment_id, "start": query.start_ms, "end": query.end_ms,
            "idle_before": query.idle_before_ms, **_filter_sql(query.filters)[1]}
