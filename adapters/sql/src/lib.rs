//! SQL storage adapters of microdash: the storage ports of `microdash-usecases` on a
//! relational database. SQLite is the embedded default (one file, no server); MariaDB serves
//! deployments with several processes. Nothing here decides policy (quotas, retention periods,
//! limits): the use cases do, and pass the values in.
//!
//! # Layout
//! - [`sqlite`]: [`SqliteStore`] and its [`SqliteOptions`]: opening the file, its pragmas,
//!   and the tests of SQLite's query plans.
//! - [`mariadb`]: [`MariaDbStore`] and its [`MariaDbOptions`]: connecting, the isolation level.
//! - `ports` (the file `ports.rs` and the folder `ports/`): the port implementations, one file
//!   per port, written once and compiled into each backend module for its database.
//! - `dialect`: every SQL difference between SQLite and MariaDB, side by side.
//! - `stored`: how domain values are stored in rows and read back (no I/O); `series_cache`:
//!   the series-id cache in front of the `series` table.
//! - `error`: the one place where `sqlx` errors become [`StoreError`] variants.
//!
//! The schemas live in `migrations/sqlite/` and `migrations/mysql/` at the workspace root and
//! are embedded in the binary; [`SqliteStore::connect`] and [`MariaDbStore::connect`] apply
//! them. Both stores pass the same contract suite (`tests/*_contract.rs`).
//!
//! [`StoreError`]: microdash_usecases::ports::StoreError

mod dialect;
mod error;
pub mod mariadb;
mod series_cache;
pub mod sqlite;
mod stored;

pub use mariadb::{MariaDbOptions, MariaDbStore};
pub use sqlite::{SqliteOptions, SqliteStore};
