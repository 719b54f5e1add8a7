//! SQL storage adapters of microdash: the storage ports of `microdash-usecases` on a
//! relational database. SQLite is the embedded default (one file, no server); MariaDB comes
//! later in a sibling module. Nothing here decides policy (quotas, retention periods, limits):
//! the use cases do, and pass the values in.
//!
//! # Layout
//! - [`sqlite`]: [`SqliteStore`] and its [`SqliteOptions`]; one file per port under
//!   `sqlite/` (`tenants`, `tokens`, `samples` with the `series` id cache, `agents`,
//!   `health`).
//! - `error`: the one place where `sqlx` errors become [`StoreError`] variants.
//!
//! The schema lives in `migrations/sqlite/` at the workspace root and is embedded in the
//! binary; [`SqliteStore::connect`] applies it.
//!
//! [`StoreError`]: microdash_usecases::ports::StoreError

mod error;
pub mod sqlite;

pub use sqlite::{SqliteOptions, SqliteStore};
