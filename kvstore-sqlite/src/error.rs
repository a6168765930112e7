//! What SQLite's failures mean for a caller.

use std::path::Path;

use kvstore_core::Error;
use rusqlite::ErrorCode;

/// A failure inside a call on a connection: SQLite's, or one the store decided itself.
#[derive(Debug)]
pub(crate) enum Failure {
    Sql(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Failure::Sql(err)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Store(err)
    }
}

/// The result of a call on a connection.
pub(crate) type Sql<T> = std::result::Result<T, Failure>;

/// The store's error for `failure`, on the file at `path`: a lock held too long by another
/// process is unavailable (retryable); a file that is not a database, a file or directory that
/// cannot be opened, refused writes, a corrupt file are named as such and not retryable.
pub(crate) fn store_error(path: &Path, failure: Failure) -> Error {
    let err = match failure {
        Failure::Store(err) => return err,
        Failure::Sql(err) => err,
    };
    let file = path.display();
    let code = err.sqlite_error_code();
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable {
            message: format!("{file}: another connection holds the database's lock"),
            source: Some(Box::new(err)),
        },
        Some(ErrorCode::NotADatabase) => Error::InvalidConfig {
            message: format!("{file} is not a SQLite database ({err})"),
        },
        Some(ErrorCode::CannotOpen) => Error::InvalidConfig {
            message: format!(
                "cannot open {file}: {err} (does its directory exist, and may this process write there?)"
            ),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::AuthorizationForStatementDenied) => {
            Error::PermissionDenied {
                message: format!("{file}: {err}"),
            }
        }
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::OutOfMemory) => {
            Error::Unavailable {
                message: format!("{file}: {err}"),
                source: Some(Box::new(err)),
            }
        }
        _ => Error::Backend {
            message: format!("{file}: {err}"),
            source: Some(Box::new(err)),
        },
    }
}

/// A row the store cannot have written.
pub(crate) fn corrupt(what: String) -> Failure {
    Failure::Store(Error::Backend {
        message: format!("corrupt store: {what}"),
        source: None,
    })
}
