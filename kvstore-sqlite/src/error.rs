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
/// process is unavailable (retryable); a file that is not a database or a missing directory is
/// a configuration error, a file that may not be opened or written is a refused permission, a
/// corrupt file a backend error: named as such, and not retryable.
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
        Some(ErrorCode::CannotOpen) if !directory_exists(path) => Error::InvalidConfig {
            message: format!("cannot open {file}: its directory does not exist"),
        },
        Some(ErrorCode::CannotOpen) => Error::PermissionDenied {
            message: format!("cannot open or create {file}: {err} (may this process write there?)"),
        },
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::AuthorizationForStatementDenied,
        ) => Error::PermissionDenied {
            message: format!("{file}: {err}"),
        },
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

fn directory_exists(path: &Path) -> bool {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.is_dir(),
        _ => true, // the current directory
    }
}
