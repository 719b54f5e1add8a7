-- microdash SQLite schema, version 1.
--
-- Timestamps are INTEGER milliseconds since the Unix epoch (UTC); durations are INTEGER seconds.
-- Tables are STRICT so that a wrongly typed bind fails instead of being stored as text.

-- Tenants: the unit of isolation. Quota and retention defaults are passed from Rust
-- (microdash_domain::tenant), so there is one source of truth for them.
CREATE TABLE tenants (
    id                 INTEGER PRIMARY KEY,
    slug               TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    samples_per_minute INTEGER NOT NULL,
    retention_raw_s    INTEGER NOT NULL,
    retention_1m_s     INTEGER NOT NULL,
    retention_5m_s     INTEGER NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;

-- API tokens: only the SHA-256 of the secret is stored.
CREATE TABLE tokens (
    id             INTEGER PRIMARY KEY,
    tenant_id      INTEGER NOT NULL REFERENCES tenants (id),
    name           TEXT    NOT NULL,
    display_prefix TEXT    NOT NULL,
    hash           TEXT    NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
) STRICT;

CREATE INDEX tokens_by_tenant ON tokens (tenant_id, created_at);

-- Series: (tenant, metric, agent, tags) -> a small integer id, so that a sample row is three
-- numbers. agent_id '' means "no agent"; tags is the canonical JSON of the sorted tag map,
-- '{}' when there are none. The unique index also serves lookups by (tenant, metric[, agent])
-- and the sorted metric-name listing. No foreign key to tenants: ingest must not pay for it.
CREATE TABLE series (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    metric    TEXT    NOT NULL,
    agent_id  TEXT    NOT NULL,
    tags      TEXT    NOT NULL,
    UNIQUE (tenant_id, metric, agent_id, tags)
) STRICT;

-- Raw samples: one clustered B-tree keyed by (series, ms). Inserts append per series, a
-- series' time range is one contiguous scan, and the key itself enforces "same series and
-- millisecond replaces". Retention deletes `ts < cutoff` per series (a range of this key), so
-- no secondary index on ts is needed.
CREATE TABLE samples (
    series_id INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    value     REAL    NOT NULL,
    PRIMARY KEY (series_id, ts)
) STRICT, WITHOUT ROWID;

-- Dedupe ids a tenant has sent. Only samples that carry a dedupe id touch this table. ts is the
-- sample's timestamp, kept so retention can prune ids older than the data they protect.
CREATE TABLE dedupe (
    tenant_id INTEGER NOT NULL,
    dedupe_id TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, dedupe_id)
) STRICT, WITHOUT ROWID;

-- Agents a tenant has heard from.
CREATE TABLE agents (
    tenant_id      INTEGER NOT NULL,
    agent_id       TEXT    NOT NULL,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    last_sample_at INTEGER NOT NULL,
    samples        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
) STRICT, WITHOUT ROWID;
