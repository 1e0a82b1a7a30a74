-- The whole DuckDB schema. Each migration is a block headed "-- migration N";
-- store/duckdb.py applies the blocks above the file's recorded version, in order.

-- migration 1
CREATE TABLE environments (
    environment_id   VARCHAR PRIMARY KEY,
    name             VARCHAR NOT NULL,
    env_key          VARCHAR NOT NULL UNIQUE,
    retention_days   INTEGER NOT NULL,
    rate_limit_per_s DOUBLE NOT NULL,
    rate_limit_burst INTEGER NOT NULL,
    created_at_ms    BIGINT NOT NULL
);

CREATE TABLE tokens (
    token_id       VARCHAR PRIMARY KEY,
    environment_id VARCHAR NOT NULL,
    secret_hash    VARCHAR NOT NULL,   -- sha256 of the secret; the secret itself is never stored
    permissions    VARCHAR NOT NULL,   -- comma separated: read,write,admin
    created_at_ms  BIGINT NOT NULL
);

CREATE TABLE assets (
    environment_id VARCHAR NOT NULL,
    asset_id       VARCHAR NOT NULL,
    duration_ms    BIGINT,
    playback_url   VARCHAR,
    updated_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (environment_id, asset_id)
);

CREATE TABLE playback_ids (
    environment_id VARCHAR NOT NULL,
    playback_id    VARCHAR NOT NULL,
    asset_id       VARCHAR NOT NULL,
    PRIMARY KEY (environment_id, playback_id)
);

-- One row per view; a view sent again replaces its row (idempotency by view_id).
CREATE TABLE views (
    environment_id VARCHAR NOT NULL,
    view_id        VARCHAR NOT NULL,
    asset_id       VARCHAR,
    playback_id    VARCHAR,
    video_id       VARCHAR,
    view_start_ms  BIGINT NOT NULL,
    view_end_ms    BIGINT,            -- NULL while the view is in progress
    duration_ms    BIGINT NOT NULL,   -- content duration the player reported
    range_starts   BIGINT[] NOT NULL, -- watched ranges as reported: may overlap, unsorted
    range_ends     BIGINT[] NOT NULL,
    sdk_name       VARCHAR,
    sdk_version    VARCHAR,
    reports_ranges BOOLEAN NOT NULL,  -- counts for engagement: false for SDKs older than the minimums and for live
    country        VARCHAR,
    browser        VARCHAR,
    os             VARCHAR,
    device_type    VARCHAR,
    player_name    VARCHAR,
    dimensions     MAP(VARCHAR, VARCHAR),
    received_at_ms BIGINT NOT NULL,   -- server time of the latest version: drives the idle timeout
    PRIMARY KEY (environment_id, view_id)
);
CREATE INDEX views_asset ON views (environment_id, asset_id);
CREATE INDEX views_video ON views (environment_id, video_id);
CREATE INDEX views_playback ON views (environment_id, playback_id);

-- migration 2
-- Every accepted beacon event, expanded; duplicates are dropped by the key. Views from
-- beacons are rebuilt from these, so no view state lives only in a process's memory.
CREATE TABLE beacon_events (
    environment_id VARCHAR NOT NULL,
    view_id        VARCHAR NOT NULL,
    sequence       INTEGER NOT NULL,  -- view_sequence_number
    event          VARCHAR NOT NULL,
    fields         VARCHAR NOT NULL,  -- the expanded event, JSON
    PRIMARY KEY (environment_id, view_id, sequence)
);
-- Client time of a view's latest event (beacons); an idle view is closed at it.
ALTER TABLE views ADD COLUMN last_event_ms BIGINT;

-- migration 3
-- Watched coverage pre-summed per scope, 5-minute partition of view start and bucket grid (store/rollups.py).
CREATE TABLE rollups (
    environment_id VARCHAR NOT NULL,
    scope          VARCHAR NOT NULL,  -- asset | video | playback_id
    scope_id       VARCHAR NOT NULL,
    partition_ms   BIGINT NOT NULL,   -- start of the 5-minute partition the views started in
    duration_ms    BIGINT NOT NULL,   -- the D of the bucket grid
    n_views        BIGINT NOT NULL,
    watched        BIGINT[] NOT NULL, -- B * watched ms per bucket, exact
    PRIMARY KEY (environment_id, scope, scope_id, partition_ms, duration_ms)
);

-- migration 4
-- Views rollups do not hold on every grid: in progress, or with no duration to grid by.
-- Queries read these raw; keeping them apart spares a scan of every view in the window.
CREATE TABLE unrolled_views (
    environment_id VARCHAR NOT NULL,
    view_id        VARCHAR NOT NULL,
    view_start_ms  BIGINT NOT NULL,
    PRIMARY KEY (environment_id, view_id)
);
INSERT INTO unrolled_views SELECT environment_id, view_id, view_start_ms FROM views
    WHERE view_end_ms IS NULL OR duration_ms = 0;

-- migration 5
-- Slice rows (store/rollups.py): rollup scopes named "scope|dimension|value", at hour
-- partitions. Files made before this version get them from their views when opened (the
-- rollups are rebuilt at migration 9); this block only marks the version.
SELECT 1;

-- migration 6
-- Beacon views keep their folded events (ingestion/folds.py) instead of every event: the
-- fold is all assembly reads, in bounded space, and takes a new event in O(its keys).
-- Files made before this version get their views' folds from beacon_events when opened
-- (DuckDBStore._fold_stored_events), which then goes.
CREATE TABLE view_folds (
    environment_id VARCHAR NOT NULL,
    view_id        VARCHAR NOT NULL,
    fold           VARCHAR NOT NULL,  -- ViewFold.to_json()
    PRIMARY KEY (environment_id, view_id)
);

-- migration 7
-- Bulk writes without index upkeep (DuckDBStore._write_views, _apply_rollups). No read used
-- these indexes (DuckDB answers them with scans and zone maps), while at commit a key index
-- made each replaced row cost about 0.1 ms. The write path keeps view_id and rollup keys
-- unique instead: in one transaction it deletes the stored rows of the incoming keys, then
-- inserts. Rollup rows keep their coverage as the nonzero steps of its first difference
-- (store/rollups.py, RollupSteps): a row costs what its views add, not B values.
DROP INDEX views_asset;
DROP INDEX views_video;
DROP INDEX views_playback;
CREATE TABLE views_unkeyed (
    environment_id VARCHAR NOT NULL,
    view_id        VARCHAR NOT NULL,  -- unique per environment (kept so by the write path)
    asset_id       VARCHAR,
    playback_id    VARCHAR,
    video_id       VARCHAR,
    view_start_ms  BIGINT NOT NULL,
    view_end_ms    BIGINT,            -- NULL while the view is in progress
    duration_ms    BIGINT NOT NULL,   -- content duration the player reported
    range_starts   BIGINT[] NOT NULL, -- watched ranges as reported: may overlap, unsorted
    range_ends     BIGINT[] NOT NULL,
    sdk_name       VARCHAR,
    sdk_version    VARCHAR,
    reports_ranges BOOLEAN NOT NULL,  -- counts for engagement: false for SDKs older than the minimums and for live
    country        VARCHAR,
    browser        VARCHAR,
    os             VARCHAR,
    device_type    VARCHAR,
    player_name    VARCHAR,
    dimensions     MAP(VARCHAR, VARCHAR),
    received_at_ms BIGINT NOT NULL,   -- server time of the latest version: drives the idle timeout
    last_event_ms  BIGINT             -- client time of a beacon view's latest event
);
INSERT INTO views_unkeyed SELECT * FROM views;
DROP TABLE views;
ALTER TABLE views_unkeyed RENAME TO views;

CREATE TABLE unrolled_unkeyed (
    environment_id VARCHAR NOT NULL,
    view_id        VARCHAR NOT NULL,
    view_start_ms  BIGINT NOT NULL
);
INSERT INTO unrolled_unkeyed SELECT * FROM unrolled_views;
DROP TABLE unrolled_views;
ALTER TABLE unrolled_unkeyed RENAME TO unrolled_views;

CREATE TABLE rollup_steps (
    environment_id VARCHAR NOT NULL,
    scope          VARCHAR NOT NULL,  -- asset | video | playback_id, or a slice "scope|dimension|value"
    scope_id       VARCHAR NOT NULL,
    partition_ms   BIGINT NOT NULL,   -- start of the partition the views started in
    duration_ms    BIGINT NOT NULL,   -- the D of the bucket grid
    n_views        BIGINT NOT NULL,
    step_buckets   USMALLINT[] NOT NULL, -- buckets where B * watched ms changes, ascending
    steps          BIGINT[] NOT NULL     -- by how much (watched = running sum over the buckets), exact
);
INSERT INTO rollup_steps
SELECT environment_id, scope, scope_id, partition_ms, duration_ms, n_views,
       list_filter(list_transform(diff, lambda d, i: CASE WHEN d <> 0 THEN i - 1 END), lambda b: b IS NOT NULL),
       list_filter(diff, lambda d: d <> 0)
FROM (SELECT *, list_transform(watched, lambda w, i: w - coalesce(watched[i - 1], 0)) AS diff FROM rollups);
DROP TABLE rollups;
ALTER TABLE rollup_steps RENAME TO rollups;

-- migration 8
-- The sites an environment takes beacons from (ingestion/origins.py); empty: anywhere.
ALTER TABLE environments ADD COLUMN allowed_origins VARCHAR[] NOT NULL DEFAULT [];

-- migration 9
-- Rollup rows hold every coverage layer of store/rollups.py (LAYERS) beside the watched one:
-- what their views watched after arriving mid-way (landed) and where they were present, from
-- a view's first watched moment to its last (present), each as steps like the watched one.
-- One row per key still: a query reads only the columns of the layers it asks for. Rows made
-- before this version hold only the watched layer, so the table is made anew and every row
-- is rebuilt from the stored views when the file is opened (DuckDBStore._roll_up_stored_views).
DROP TABLE rollups;
CREATE TABLE rollups (
    environment_id  VARCHAR NOT NULL,
    scope           VARCHAR NOT NULL,     -- asset | video | playback_id, or a slice "scope|dimension|value"
    scope_id        VARCHAR NOT NULL,
    partition_ms    BIGINT NOT NULL,      -- start of the partition the views started in
    duration_ms     BIGINT NOT NULL,      -- the D of the bucket grid
    n_views         BIGINT NOT NULL,
    watched_buckets USMALLINT[] NOT NULL, -- buckets where B * watched ms changes, ascending
    watched_steps   BIGINT[] NOT NULL,    -- by how much (watched = running sum over the buckets), exact
    landed_buckets  USMALLINT[] NOT NULL, -- the same for B * ms watched after arriving mid-way
    landed_steps    BIGINT[] NOT NULL,
    present_buckets USMALLINT[] NOT NULL, -- and for B * ms between a view's first watched moment and its last
    present_steps   BIGINT[] NOT NULL
);

-- migration 10
-- Random values the store keeps for itself (Store.store_secret), never served: the demo's
-- token derives from one, so knowing the demo's public env key gives no token.
CREATE TABLE secrets (
    name  VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- migration 11
-- An asset's chapters (model.Chapter, store/rows.py: chapters_to_text): a JSON array of
-- [start_ms, end_ms or null, title] by start; NULL for none.
ALTER TABLE assets ADD COLUMN chapters VARCHAR;
