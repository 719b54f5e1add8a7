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
//! - `history`: bucket rows, late-sample marks and series selection, shared by both stores.
//! - `series_cache`, `stored` and `rows`: what both stores share (the series-id cache, the stored
//!   forms of agents and tags, grouping points into series, rows and their domain conversions).
//! - `error`: the one place where `sqlx` errors become [`StoreError`] variants.
//!
//! The schemas live in `migrations/sqlite/` and `migrations/mysql/` at the workspace root and
//! are embedded in the binary; [`SqliteStore::connect`] and [`MariaDbStore::connect`] apply
//! them. Both stores pass the same contract suite (`tests/*_contract.rs`).
//!
//! [`StoreError`]: microdash_usecases::ports::StoreError

mod error;
mod history;
pub mod mariadb;
mod rows;
mod series_cache;
pub mod sqlite;
mod stored;

pub use mariadb::{MariaDbOptions, MariaDbStore};
pub use sqlite::{SqliteOptions, SqliteStore};
