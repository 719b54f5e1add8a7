//! What differs between the SQL of SQLite and of MariaDB, in one place: each method of
//! [`Dialect`] is one difference, with both sides next to each other and the reason for it.
//! The port implementations (`ports/`) write every other statement once for both backends:
//! `?` placeholders (a value used twice is bound twice), `RETURNING`, `REPLACE INTO`, `%`,
//! row values in `IN`. Also here: the builders of the statement text made at run time, which
//! is only ever lists of `?` and of integers read from the database; values are always bound.
//!
//! Not for connection settings: SQLite's pragmas stay in `sqlite.rs`, MariaDB's isolation
//! level in `mariadb.rs`.

use std::fmt::Write as _;

/// Rows per multi-row statement on SQLite (inserts, upserts, lists of ids). Constant so that
/// only two statement texts exist per table (a full chunk and the batch's remainder) and the
/// prepared-statement cache keeps hitting; 500 rows is 1,500 parameters for samples (4,000
/// for buckets), far below SQLite's 32,766, and past the point where bigger statements stop
/// paying off.
const SQLITE_ROWS_PER_STATEMENT: usize = 500;

/// Rows per multi-row statement on MariaDB: 3,000 placeholders for samples (8,000 for
/// buckets), far below the protocol's 65,535, and the size the stack spike measured at about
/// 120k rows/s. Constant for the same prepared-statement cache reason as on SQLite.
const MARIADB_ROWS_PER_STATEMENT: usize = 1_000;

/// The SQL dialect of a backend. Each backend module names its own as `DIALECT`, a constant,
/// so every `match` below folds away when the ports are compiled for that backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite 3.35+ (`RETURNING`), as bundled by sqlx.
    Sqlite,
    /// MariaDB 10.11+ (InnoDB, `INSERT .. RETURNING`).
    MariaDb,
}

impl Dialect {
    /// The backend's name, for messages.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::MariaDb => "MariaDB",
        }
    }

    /// The component name the health check reports.
    pub(crate) const fn component(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::MariaDb => "mariadb",
        }
    }

    /// Rows per multi-row statement.
    pub(crate) const fn rows_per_statement(self) -> usize {
        match self {
            Dialect::Sqlite => SQLITE_ROWS_PER_STATEMENT,
            Dialect::MariaDb => MARIADB_ROWS_PER_STATEMENT,
        }
    }

    /// True when one write transaction runs at a time. SQLite has a single writer, and
    /// [`Dialect::begin_write`] takes its lock up front: nothing changes under a write
    /// transaction, so it needs no locking reads and may look rows up before writing them.
    /// MariaDB runs writers concurrently at READ COMMITTED: they lock what they read
    /// ([`Dialect::for_update`]), write rows in key order so that they lock in one order, and
    /// learn which rows are new from the insert itself.
    pub(crate) const fn single_writer(self) -> bool {
        matches!(self, Dialect::Sqlite)
    }

    /// The statement that starts a write transaction. `IMMEDIATE` takes SQLite's write lock
    /// at once, so reads inside the transaction cannot meet another writer's snapshot
    /// half-way (`SQLITE_BUSY_SNAPSHOT`).
    pub(crate) const fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::MariaDb => "BEGIN",
        }
    }

    /// True when reads of samples and buckets join `series` to keep other tenants' series
    /// out in the same statement. SQLite's planner walks each listed series' key range from
    /// the join, and the statement text stays the same whatever the series (so it is prepared
    /// once). InnoDB would read whole series through the join (`ref` on the first key part),
    /// so on MariaDB the owned ids are read first and the statement lists them, an `IN` list
    /// on the first key part and a range on the second.
    pub(crate) const fn joins_series(self) -> bool {
        matches!(self, Dialect::Sqlite)
    }

    /// The scalar function of the larger of its arguments (SQLite's `MAX` with two or more
    /// arguments is not the aggregate).
    pub(crate) const fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::MariaDb => "GREATEST",
        }
    }

    /// The scalar function of the smaller of its arguments.
    pub(crate) const fn least(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MIN",
            Dialect::MariaDb => "LEAST",
        }
    }

    /// Ends a `SELECT` whose rows the transaction will change: an exclusive row lock until
    /// commit on MariaDB; nothing on SQLite, whose write transaction already excludes others.
    pub(crate) const fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::MariaDb => " FOR UPDATE",
        }
    }

    /// Ends a `SELECT` whose rows must not change before commit: a shared row lock on
    /// MariaDB; nothing on SQLite (see [`Dialect::for_update`]).
    pub(crate) const fn for_share(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::MariaDb => " LOCK IN SHARE MODE",
        }
    }

    /// The condition that finds a series by its canonical tag JSON (one `?`). MariaDB's
    /// unique key holds `tags_hash`, the SHA-256 the server computes from `tags` (a TEXT
    /// column is too long for an InnoDB key); SQLite's holds the text itself.
    pub(crate) const fn tags_match(self) -> &'static str {
        match self {
            Dialect::Sqlite => "tags = ?",
            Dialect::MariaDb => "tags_hash = UNHEX(SHA2(?, 256))",
        }
    }

    /// The start of an `INSERT` that skips rows whose `key` (a comma-separated column list)
    /// is taken, and what follows its rows. MariaDB has no `ON CONFLICT DO NOTHING`; `IGNORE`
    /// is its only way to skip such a row (an `ON DUPLICATE KEY UPDATE` would touch it, and
    /// `RETURNING` would return it).
    pub(crate) fn insert_skipping_taken(self, key: &str) -> (&'static str, String) {
        match self {
            Dialect::Sqlite => ("INSERT INTO", format!(" ON CONFLICT ({key}) DO NOTHING")),
            Dialect::MariaDb => ("INSERT IGNORE INTO", String::new()),
        }
    }

    /// What follows the rows of an `INSERT` to update the row holding the same `key` (a
    /// comma-separated column list; MariaDB takes whichever unique key conflicts), up to the
    /// assignments.
    pub(crate) fn upsert(self, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" ON CONFLICT ({key}) DO UPDATE SET "),
            Dialect::MariaDb => " ON DUPLICATE KEY UPDATE ".to_owned(),
        }
    }

    /// In an upsert's assignments, the value the conflicting row would have inserted.
    pub(crate) fn inserted(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("excluded.{column}"),
            Dialect::MariaDb => format!("VALUES({column})"),
        }
    }

    /// An [`upsert`](Dialect::upsert) on `key` that replaces `columns` with the inserted
    /// values.
    pub(crate) fn upsert_replacing(self, key: &str, columns: &[&str]) -> String {
        let mut sql = self.upsert(key);
        for (n, column) in columns.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{column} = {}", self.inserted(column));
        }
        sql
    }

    /// A `DELETE` of at most `?` (bound last) rows of `table` matching `condition`, which may
    /// name the table's columns as `table.column`. `key` is the table's primary key. SQLite
    /// has `DELETE .. LIMIT` only when compiled with an option the bundled library lacks, so
    /// it deletes the keys a limited sub-select finds (through the same key); MariaDB refuses
    /// a `LIMIT` in an `IN` sub-select of the table it deletes from.
    pub(crate) fn delete_limited(self, table: &str, key: &str, condition: &str) -> String {
        match self {
            Dialect::Sqlite => format!(
                "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {condition} LIMIT ?)"
            ),
            Dialect::MariaDb => format!("DELETE FROM {table} WHERE {condition} LIMIT ?"),
        }
    }
}

/// `head`, then `item` `n` times separated by commas, then `tail`.
pub(crate) fn repeated_sql(head: &str, item: &str, n: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + n * (item.len() + 1) + tail.len());
    sql.push_str(head);
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(item);
    }
    sql.push_str(tail);
    sql
}

/// Series ids as a comma-separated SQL list. They are integers read from the database, so
/// formatting them into SQL cannot inject anything, and it avoids the placeholder limits
/// (32,766 on SQLite, 65,535 on MariaDB) for metrics with many series.
pub(crate) fn id_list(ids: impl Iterator<Item = i64>) -> String {
    let mut list = String::new();
    for (n, id) in ids.enumerate() {
        if n > 0 {
            list.push(',');
        }
        let _ = write!(list, "{id}");
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_sql_separates_the_items_with_commas() {
        assert_eq!(
            repeated_sql("INSERT INTO t VALUES ", "(?,?)", 2, ";"),
            "INSERT INTO t VALUES (?,?),(?,?);"
        );
        assert_eq!(repeated_sql("x IN (", "?", 1, ")"), "x IN (?)");
    }

    #[test]
    fn id_lists_are_plain_comma_separated_integers() {
        assert_eq!(id_list([3, -1, 42].into_iter()), "3,-1,42");
        assert_eq!(id_list(std::iter::once(7)), "7");
    }

    #[test]
    fn upserts_replace_the_listed_columns_with_the_inserted_values() {
        assert_eq!(
            Dialect::Sqlite.upsert_replacing("series_id, ts", &["value", "n"]),
            " ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value, n = excluded.n"
        );
        assert_eq!(
            Dialect::MariaDb.upsert_replacing("series_id, ts", &["value"]),
            " ON DUPLICATE KEY UPDATE value = VALUES(value)"
        );
    }
}
