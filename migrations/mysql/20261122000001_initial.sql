-- microdash MariaDB schema, version 1 (MariaDB 10.11+, InnoDB, utf8mb4).
--
-- Timestamps are BIGINT milliseconds since the Unix epoch (UTC); durations are BIGINT seconds.
-- Every name and id that is compared or unique uses utf8mb4_nopad_bin: byte order and equality
-- as in SQLite (case and trailing spaces matter), not the server's case-insensitive default.

-- Tenants: the unit of isolation. Quota and retention defaults are passed from Rust
-- (microdash_domain::tenant), so there is one source of truth for them.
CREATE TABLE tenants (
    id                 BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    slug               VARCHAR(63)  CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    name               TEXT         CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    samples_per_minute BIGINT       NOT NULL,
    retention_raw_s    BIGINT       NOT NULL,
    retention_1m_s     BIGINT       NOT NULL,
    retention_5m_s     BIGINT       NOT NULL,
    created_at         BIGINT       NOT NULL,
    UNIQUE KEY tenants_slug (slug)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- API tokens: only the SHA-256 of the secret is stored.
CREATE TABLE tokens (
    id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id      BIGINT       NOT NULL,
    name           TEXT         CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    display_prefix VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    hash           VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    created_at     BIGINT       NOT NULL,
    last_used_at   BIGINT       NULL,
    revoked_at     BIGINT       NULL,
    UNIQUE KEY tokens_hash (hash),
    KEY tokens_by_tenant (tenant_id, created_at),
    CONSTRAINT tokens_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- Series: (tenant, metric, agent, tags) -> a BIGINT id, so that a sample row is three numbers.
-- agent_id '' means "no agent"; tags is the canonical JSON of the sorted tag map, '{}' when
-- there are none. Tags can be far longer than InnoDB's 3072-byte key limit, so uniqueness is
-- on tags_hash, the SHA-256 of that JSON, computed by the server. The unique key also serves
-- lookups by (tenant, metric[, agent]) and the sorted metric-name listing. No foreign key to
-- tenants: ingest must not pay for it.
CREATE TABLE series (
    id        BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id BIGINT      NOT NULL,
    metric    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    agent_id  VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    tags      TEXT        CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    tags_hash BINARY(32)  AS (UNHEX(SHA2(tags, 256))) STORED,
    UNIQUE KEY series_identity (tenant_id, metric, agent_id, tags_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- Raw samples: InnoDB clusters the table on its primary key (series, ms), so inserts append
-- per series, a series' time range is one contiguous scan, and the key itself enforces "same
-- series and millisecond replaces". No other index, to keep inserts cheap.
-- Retention today deletes `ts < cutoff` per series (a range of this key). The future path for
-- large installations is `PARTITION BY RANGE (ts)` (e.g. one partition per day; ts is part of
-- the primary key, as partitioning requires) and `ALTER TABLE samples DROP PARTITION`, which
-- frees a day in O(1) instead of deleting row by row.
CREATE TABLE samples (
    series_id BIGINT NOT NULL,
    ts        BIGINT NOT NULL,
    value     DOUBLE NOT NULL,
    PRIMARY KEY (series_id, ts)
) ENGINE = InnoDB;

-- Dedupe ids a tenant has sent. Only samples that carry a dedupe id touch this table. ts is the
-- sample's timestamp, kept so retention can prune ids older than the data they protect.
CREATE TABLE dedupe (
    tenant_id BIGINT       NOT NULL,
    dedupe_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    ts        BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, dedupe_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- Agents a tenant has heard from.
CREATE TABLE agents (
    tenant_id      BIGINT      NOT NULL,
    agent_id       VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    first_seen     BIGINT      NOT NULL,
    last_seen      BIGINT      NOT NULL,
    last_sample_at BIGINT      NOT NULL,
    samples        BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;
