//! SQL storage adapters of microdash: the storage ports of `microdash-usecases` on a
//! relational database. SQLite is the embedded default (one file, no server); MariaDB serves
//! deployments with several processes. Nothing here decides policy (quotas, retention periods,
//! limits): the use cases do, and pass the values in.
//!
//! # Layout
//! - [`sqlite`]: [`SqliteStore`] and its [`SqliteOptions`]; one file per port under
//!   `sqlite/` (`tenants`, `tokens`, `samples` with the `series` id cache, `agents`,
//!   `health`, `series_reader`, `rollups`, `progress`, `retention`).
//! - [`mariadb`]: [`MariaDbStore`] and its [`MariaDbOptions`], with the same files under
//!   `mariadb/`.
//! - `stored`: how domain values are stored in rows and read back, the same for both stores
//!   (no I/O); `series_cache`: the series-id cache in front of the `series` table.
//! - `error`: the one place where `sqlx` errors become [`StoreError`] variants.
//!
//! The schemas live in `migrations/sqlite/` and `migrations/mysql/` at the workspace root and
//! are embedded in the binary; [`SqliteStore::connect`] and [`MariaDbStore::connect`] apply
//! them. Both stores pass the same contract suite (`tests/*_contract.rs`).
//!
//! [`StoreError`]: microdash_usecases::ports::StoreError

mod error;
pub mod mariadb;
mod series_cache;
pub mod sqlite;
mod stored;

pub use mariadb::{MariaDbOptions, MariaDbStore};
pub use sqlite::{SqliteOptions, SqliteStore};
