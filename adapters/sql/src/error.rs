//! The one place where database errors become [`StoreError`]s, so every port method maps them
//! the same way: a broken unique rule is a [`StoreError::Conflict`], another broken constraint
//! (NOT NULL, CHECK, foreign key) is [`StoreError::Rejected`] since a retry cannot succeed, and
//! anything else is [`StoreError::Unavailable`] with the original error kept as its source.
//! MariaDB adds value errors that sqlx has no kind for (data too long, out of range), also
//! refused for good; its deadlocks and lock wait timeouts stay unavailable, i.e. retryable.

use microdash_usecases::ports::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::mysql::MySqlDatabaseError;

/// MariaDB error numbers for values a column refuses for good: `ER_WARN_DATA_OUT_OF_RANGE`
/// (1264), `WARN_DATA_TRUNCATED` (1265), `ER_TRUNCATED_WRONG_VALUE_FOR_FIELD` (1366) and
/// `ER_DATA_TOO_LONG` (1406), errors rather than warnings in strict mode; and
/// `ER_SIGNAL_EXCEPTION` (1644), a trigger or procedure of the operator's refusing the row.
const MARIADB_VALUE_ERRORS: [u16; 5] = [1264, 1265, 1366, 1406, 1644];

/// MariaDB's `ER_LOCK_DEADLOCK`: InnoDB rolled the whole transaction back to break a cycle.
const MARIADB_DEADLOCK: u16 = 1213;

/// Maps a `sqlx` error, naming the operation that failed.
pub(crate) fn map_sqlx(what: &'static str, error: sqlx::Error) -> StoreError {
    match error.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(format!("{what}: {}", db.message())),
        Some(db)
            if matches!(
                db.kind(),
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation | ErrorKind::ForeignKeyViolation
            ) =>
        {
            StoreError::Rejected {
                message: format!("{what}: {}", db.message()),
                source: Some(Box::new(error)),
            }
        }
        Some(db) if mariadb_number(db).is_some_and(|n| MARIADB_VALUE_ERRORS.contains(&n)) => {
            StoreError::Rejected {
                message: format!("{what}: {}", db.message()),
                source: Some(Box::new(error)),
            }
        }
        _ => StoreError::unavailable(what, error),
    }
}

/// The MariaDB error number, when `db` comes from MariaDB.
fn mariadb_number(db: &dyn DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<MySqlDatabaseError>().map(MySqlDatabaseError::number)
}

/// True when `error` is a MariaDB deadlock: the transaction was rolled back whole and running
/// it again is safe.
pub(crate) fn is_deadlock(error: &StoreError) -> bool {
    let StoreError::Unavailable { source: Some(source), .. } = error else { return false };
    source.downcast_ref::<sqlx::Error>().and_then(sqlx::Error::as_database_error).and_then(mariadb_number)
        == Some(MARIADB_DEADLOCK)
}

/// A stored value that no longer passes domain validation: the database was edited by hand or
/// by an incompatible version. Nothing the caller can fix, so it is reported as unavailable.
pub(crate) fn corrupt(
    what: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::unavailable(format!("corrupt stored data: {what}"), error)
}

/// `.or_store("what")` on `sqlx` results.
pub(crate) trait SqlxResultExt<T> {
    /// Maps the error with [`map_sqlx`].
    fn or_store(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlxResultExt<T> for Result<T, sqlx::Error> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| map_sqlx(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_are_not_from_the_database_are_unavailable_and_keep_their_source() {
        let mapped = map_sqlx("reading tenants", sqlx::Error::RowNotFound);
        let StoreError::Unavailable { message, source } = mapped else {
            panic!("expected Unavailable, got {mapped:?}");
        };
        assert_eq!(message, "reading tenants");
        assert!(source.is_some());
    }

    #[test]
    fn only_database_deadlocks_count_as_deadlocks() {
        assert!(!is_deadlock(&map_sqlx("inserting", sqlx::Error::RowNotFound)));
        assert!(!is_deadlock(&StoreError::Conflict("x".into())));
    }
}
