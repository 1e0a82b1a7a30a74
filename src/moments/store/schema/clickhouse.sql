-- The whole ClickHouse schema (single server or chdb; docs/clickhouse.md shows the cluster
-- form). Each migration is a block headed "-- migration N" of statements ending in ";";
-- store/clickhouse.py applies the blocks above the recorded version, in order. Every
-- statement is idempotent (IF NOT EXISTS), so processes starting together cannot clash.
--
-- Replaced rows: ReplacingMergeTree(version[, deleted]) keyed by what identifies a row;
-- queries read with FINAL, so the newest version wins at query time, right after a write,
-- whether or not a background merge ran. A row whose key changes is retired by a
-- tombstone (same key, newer version, deleted = 1).

-- migration 1
CREATE TABLE IF NOT EXISTS environments (
    environment_id   String,
    name             String,
    env_key          String,
    retention_days   UInt16,
    rate_limit_per_s Float64,
    rate_limit_burst UInt32,
    created_at_ms    Int64
) ENGINE = ReplacingMergeTree
ORDER BY environment_id;

CREATE TABLE IF NOT EXISTS tokens (
    token_id       String,
    environment_id String,
    secret_hash    String,   -- sha256 of the secret; the secret itself is never stored
    permissions    String,   -- comma separated: read,write,admin
    created_at_ms  Int64
) ENGINE = ReplacingMergeTree
ORDER BY token_id;

CREATE TABLE IF NOT EXISTS assets (
    environment_id String,
    asset_id       String,
    duration_ms    Nullable(Int64),
    playback_url   Nullable(String),
    updated_at_ms  Int64,
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (environment_id, asset_id);

-- Which asset a playback ID plays; a playback ID an asset no longer lists gets a tombstone.
CREATE TABLE IF NOT EXISTS playback_ids (
    environment_id String,
    playback_id    String,
    asset_id       String,
    version        UInt64,
    deleted        UInt8
) ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (environment_id, playback_id);

-- Every view, once per scope it can be looked up by: scope 'view' (scope_id = view_id:
-- the view itself), 'asset', 'playback_id' and 'video' (its own ids). So every engagement
-- query reads one contiguous key range (environment, scope, scope id, time), and a view
-- is found by id through the same key. A view sent again replaces its rows (newer
-- version); rows whose key changed (another id, another start) get tombstones.
CREATE TABLE IF NOT EXISTS views (
    environment_id String,
    scope          LowCardinality(String),
    scope_id       String,
    view_start_ms  Int64,
    view_id        String,
    version        UInt64,
    deleted        UInt8,
    asset_id       Nullable(String),
    playback_id    Nullable(String),
    video_id       Nullable(String),
    view_end_ms    Nullable(Int64),   -- NULL while the view is in progress
    duration_ms    Int64,             -- content duration the player reported
    range_starts   Array(Int64),      -- watched ranges as reported: may overlap, unsorted
    range_ends     Array(Int64),
    sdk_name       Nullable(String),
    sdk_version    Nullable(String),
    reports_ranges Bool,              -- false for SDKs older than the engagement minimums
    country        Nullable(String),
    browser        Nullable(String),
    os             Nullable(String),
    device_type    Nullable(String),
    player_name    Nullable(String),
    dimensions     Map(String, String),
    received_at_ms Int64,             -- server time of the latest version: drives the idle timeout
    last_event_ms  Nullable(Int64),   -- client time of the latest beacon event
    retention_days UInt16             -- the environment's, for the TTL
) ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toYYYYMMDD(toDateTime(intDiv(view_start_ms, 1000), 'UTC'))
ORDER BY (environment_id, scope, scope_id, view_start_ms, view_id)
TTL toDateTime(intDiv(view_start_ms, 1000), 'UTC') + toIntervalDay(retention_days);

-- The rows of the views rollups do not hold on every grid: in progress, or with no
-- duration to grid by (the same rows as in views, same versions). Queries read these
-- raw; keeping them apart spares a scan of every view in the window.
CREATE TABLE IF NOT EXISTS open_views AS views;

-- Watched coverage pre-summed per scope, bucket grid and time partition of view start
-- (store/rollups.py), at three grains: 5 minutes, 1 hour and 1 day (UTC); a coarse row is
-- the sum of the fine rows inside it. A query sums whole days, then whole hours, then
-- 5-minute partitions at the ends: about a hundred rows for a 30-day window. Writes
-- insert deltas (a replaced view's old share negated); the engine sums rows of one key
-- at merge time, and queries sum them at query time. `watched` is sparse: (bucket,
-- B * watched ms) pairs, summed by bucket (sumMap). Not partitioned by day: a query spans
-- many days, and every partition is at least one more part to open; the rows are few.
CREATE TABLE IF NOT EXISTS rollups (
    environment_id String,
    scope          LowCardinality(String),  -- asset | video | playback_id
    scope_id       String,
    duration_ms    Int64,                   -- the D of the bucket grid
    grain_ms       Int64,                   -- 300000, 3600000 or 86400000
    partition_ms   Int64,                   -- start of the partition (of this grain) the views started in
    n_views        SimpleAggregateFunction(sum, Int64),
    watched        SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64))),
    retention_days SimpleAggregateFunction(max, UInt16)
) ENGINE = AggregatingMergeTree
ORDER BY (environment_id, scope, scope_id, duration_ms, grain_ms, partition_ms)
TTL toDateTime(intDiv(partition_ms + grain_ms, 1000), 'UTC') + toIntervalDay(retention_days);

-- Every accepted beacon event, expanded; one row per (environment, view, sequence) after
-- FINAL. Views from beacons are rebuilt from these, so no view state lives only in a
-- process's memory.
CREATE TABLE IF NOT EXISTS beacon_events (
    environment_id String,
    view_id        String,
    sequence       Int32,    -- view_sequence_number
    event          String,
    fields         String,   -- the expanded event, JSON
    stored_at_ms   Int64,
    retention_days UInt16
) ENGINE = ReplacingMergeTree
ORDER BY (environment_id, view_id, sequence)
TTL toDateTime(intDiv(stored_at_ms, 1000), 'UTC') + toIntervalDay(retention_days + 1);

-- Housekeeping (closing idle views, retention) runs in one process at a time: a lease.
CREATE TABLE IF NOT EXISTS leases (
    name     String,
    holder   String,
    until_ms Int64,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY name;

-- migration 2
-- Beacon views keep their folded events (ingestion/folds.py) instead of every event; the
-- newest fold of a view wins. Databases from before get their folds from beacon_events
-- (ClickHouseStore._fold_stored_events), which then goes.
CREATE TABLE IF NOT EXISTS view_folds (
    environment_id String,
    view_id        String,
    fold           String,   -- ViewFold.to_json()
    version        UInt64,
    stored_at_ms   Int64,
    retention_days UInt16
) ENGINE = ReplacingMergeTree(version)
ORDER BY (environment_id, view_id)
TTL toDateTime(intDiv(stored_at_ms, 1000), 'UTC') + toIntervalDay(retention_days + 1);

-- migration 3
-- Beacons from several processes (machines): each forwards its journal's records here; the
-- holder of the assembly lease applies them past the cursors (store/base.py, BeaconInbox).
-- A record forwarded twice has the same (source, seq) and the same payload; the applier
-- reads past the cursors without FINAL (folds drop what they have seen), so the replacing
-- engine only reclaims space. Rows the cursors passed are deleted by the applier.
CREATE TABLE IF NOT EXISTS beacon_inbox (
    source  String,
    seq     UInt64,
    at_ms   Int64,
    payload String
) ENGINE = ReplacingMergeTree
ORDER BY (source, seq);

-- Per source, how far its inbox rows are applied: the newest (highest) seq wins.
CREATE TABLE IF NOT EXISTS inbox_cursors (
    source String,
    seq    UInt64
) ENGINE = ReplacingMergeTree(seq)
ORDER BY source;

-- migration 4
-- The sites an environment takes beacons from (ingestion/origins.py); empty: anywhere. A
-- change inserts the environment's row again: the replacing engine keeps the newest.
ALTER TABLE environments ADD COLUMN IF NOT EXISTS allowed_origins Array(String);

-- migration 5
-- Rollup rows hold every coverage layer of store/rollups.py (LAYERS) beside `watched`, in
-- the same sparse form, summed alike: what their views watched after arriving mid-way
-- (landed) and where they were present, from a view's first watched moment to its last
-- (present). A query reads only the columns of the layers it asks for. Rows written before
-- this version hold none of them: migration 6 rebuilds every row from the views.
ALTER TABLE rollups ADD COLUMN IF NOT EXISTS landed
    SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64))) AFTER watched;
ALTER TABLE rollups ADD COLUMN IF NOT EXISTS present
    SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64))) AFTER landed;

-- migration 6
-- Rollup rows hold the steps of their coverage (its first difference, by bucket) instead of
-- its values, as on DuckDB: a row costs what its views change, not every bucket they cover
-- (on the benchmark's data, 35 times fewer pairs to write and sum), and steps add up like
-- the coverage they stand for, so sumMap and the deltas work alike. A query sums a layer's
-- steps, and the running sum over buckets gives the coverage. Rows of `rollups` (values)
-- are rebuilt here from the views by ClickHouseStore._rebuild_as_steps, which then empties
-- `rollups`: it is left in place, since a process still running an older migration may
-- alter it.
CREATE TABLE IF NOT EXISTS rollup_steps (
    environment_id String,
    scope          LowCardinality(String),  -- asset | video | playback_id, or a slice of one
    scope_id       String,
    duration_ms    Int64,                   -- the D of the bucket grid
    grain_ms       Int64,                   -- 300000, 3600000 or 86400000
    partition_ms   Int64,                   -- start of the partition (of this grain) the views started in
    n_views        SimpleAggregateFunction(sum, Int64),
    watched        SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64))),  -- (bucket, step)
    landed         SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64))),
    present        SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64))),
    retention_days SimpleAggregateFunction(max, UInt16)
) ENGINE = AggregatingMergeTree
ORDER BY (environment_id, scope, scope_id, duration_ms, grain_ms, partition_ms)
TTL toDateTime(intDiv(partition_ms + grain_ms, 1000), 'UTC') + toIntervalDay(retention_days);

-- migration 7
-- Random values the store keeps for itself (Store.store_secret), never served: the demo's
-- token derives from one, so knowing the demo's public env key gives no token. Processes that
-- make one at once each insert theirs: the first row in key order is the one every process uses.
CREATE TABLE IF NOT EXISTS secrets (
    name          String,
    created_at_ms Int64,
    value         String
) ENGINE = MergeTree
ORDER BY (name, created_at_ms, value);

-- migration 8
-- An asset's chapters (model.Chapter, store/rows.py: chapters_to_text): a JSON array of
-- [start_ms, end_ms or null, title] by start; '' for none (rows written before this version).
ALTER TABLE assets ADD COLUMN IF NOT EXISTS chapters String DEFAULT '' AFTER playback_url;
