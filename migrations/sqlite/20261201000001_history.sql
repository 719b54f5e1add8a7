-- microdash SQLite schema, version 2: rollups and their progress, late-sample marks, agent
-- reporting intervals, and an index to expire dedupe ids.

-- 1-minute and 5-minute buckets of a series, keyed like `samples` so a series' range is one
-- contiguous scan. avg = sum_v / cnt; last_v is the value of the newest sample (at last_at).
CREATE TABLE rollup_1m (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    cnt       INTEGER NOT NULL,
    sum_v     REAL    NOT NULL,
    min_v     REAL    NOT NULL,
    max_v     REAL    NOT NULL,
    last_v    REAL    NOT NULL,
    last_at   INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_5m (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    cnt       INTEGER NOT NULL,
    sum_v     REAL    NOT NULL,
    min_v     REAL    NOT NULL,
    max_v     REAL    NOT NULL,
    last_v    REAL    NOT NULL,
    last_at   INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) STRICT, WITHOUT ROWID;

-- Per tenant: raw minutes before folded_until are folded into rollup_1m (and 5-minute windows
-- before the 5-minute boundary at or below it into rollup_5m); minutes before closed_until are
-- closed: a sample stored for one marks its bucket in rollup_dirty.
CREATE TABLE rollup_progress (
    tenant_id    INTEGER PRIMARY KEY,
    folded_until INTEGER NOT NULL,
    closed_until INTEGER NOT NULL
) STRICT;

-- 1-minute buckets that samples reached after their minute was closed. version changes with
-- every new mark, so a mark is only cleared by whoever folded what it stands for.
CREATE TABLE rollup_dirty (
    tenant_id INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    minute    INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, series_id, minute)
) STRICT, WITHOUT ROWID;

-- Existing tenants start folding at their oldest sample (or their creation), to the minute.
INSERT INTO rollup_progress (tenant_id, folded_until, closed_until)
SELECT id, m, m FROM (
    SELECT t.id AS id,
           (MIN(t.created_at, COALESCE(
               (SELECT MIN((SELECT MIN(p.ts) FROM samples p WHERE p.series_id = s.id))
                FROM series s WHERE s.tenant_id = t.id),
               t.created_at)) / 60000) * 60000 AS m
    FROM tenants t
);

-- An agent's reporting interval in ms, learnt from the gaps between its sightings.
ALTER TABLE agents ADD COLUMN interval_ms INTEGER;

-- Retention forgets dedupe ids older than the data they protect.
CREATE INDEX dedupe_by_ts ON dedupe (tenant_id, ts);
