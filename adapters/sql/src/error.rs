//! The one place where database errors become [`StoreError`]s, so every port method maps them
//! the same way: a broken unique rule is a [`StoreError::Conflict`], another broken constraint
//! (NOT NULL, CHECK, foreign key) is [`StoreError::Rejected`] since a retry cannot succeed, and
//! anything else is [`StoreError::Unavailable`] with the original error kept as its source.

use microdash_usecases::ports::StoreError;
use sqlx::error::ErrorKind;

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
        _ => StoreError::unavailable(what, error),
    }
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
}
