-- microdash MariaDB schema, version 2: rollups and their progress, late-sample marks, agent
-- reporting intervals, and an index to expire dedupe ids.

-- 1-minute and 5-minute buckets of a series, clustered like `samples` so a series' range is
-- one contiguous scan. avg = sum_v / cnt; last_v is the value of the newest sample (at last_at).
CREATE TABLE rollup_1m (
    series_id BIGINT NOT NULL,
    bucket    BIGINT NOT NULL,
    cnt       BIGINT NOT NULL,
    sum_v     DOUBLE NOT NULL,
    min_v     DOUBLE NOT NULL,
    max_v     DOUBLE NOT NULL,
    last_v    DOUBLE NOT NULL,
    last_at   BIGINT NOT NULL,
    PRIMARY KEY (series_id, bucket)
) ENGINE = InnoDB;

CREATE TABLE rollup_5m (
    series_id BIGINT NOT NULL,
    bucket    BIGINT NOT NULL,
    cnt       BIGINT NOT NULL,
    sum_v     DOUBLE NOT NULL,
    min_v     DOUBLE NOT NULL,
    max_v     DOUBLE NOT NULL,
    last_v    DOUBLE NOT NULL,
    last_at   BIGINT NOT NULL,
    PRIMARY KEY (series_id, bucket)
) ENGINE = InnoDB;

-- Per tenant: raw minutes before folded_until are folded into rollup_1m (and 5-minute windows
-- before the 5-minute boundary at or below it into rollup_5m); minutes before closed_until are
-- closed: a sample stored for one marks its bucket in rollup_dirty. Writers read this row with
-- a shared lock, so closing (an exclusive lock) waits for the batches in flight.
CREATE TABLE rollup_progress (
    tenant_id    BIGINT NOT NULL PRIMARY KEY,
    folded_until BIGINT NOT NULL,
    closed_until BIGINT NOT NULL
) ENGINE = InnoDB;

-- 1-minute buckets that samples reached after their minute was closed. version changes with
-- every new mark, so a mark is only cleared by whoever folded what it stands for.
CREATE TABLE rollup_dirty (
    tenant_id BIGINT NOT NULL,
    series_id BIGINT NOT NULL,
    minute    BIGINT NOT NULL,
    version   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, series_id, minute)
) ENGINE = InnoDB;

-- Existing tenants start folding at their oldest sample (or their creation), to the minute.
INSERT INTO rollup_progress (tenant_id, folded_until, closed_until)
SELECT id, m, m FROM (
    SELECT t.id AS id,
           (LEAST(t.created_at, COALESCE(
               (SELECT MIN((SELECT MIN(p.ts) FROM samples p WHERE p.series_id = s.id))
                FROM series s WHERE s.tenant_id = t.id),
               t.created_at)) DIV 60000) * 60000 AS m
    FROM tenants t
) AS starts;

-- An agent's reporting interval in ms, learnt from the gaps between its sightings.
ALTER TABLE agents ADD COLUMN interval_ms BIGINT NULL;

-- Retention forgets dedupe ids older than the data they protect.
CREATE INDEX dedupe_by_ts ON dedupe (tenant_id, ts);
