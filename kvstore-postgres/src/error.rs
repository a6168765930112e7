//! What the server's and the driver's failures mean for a caller.

use deadpool_postgres::PoolError;
use kvstore_core::Error;
use tokio_postgres::error::SqlState;

/// Whether a failed call may have changed the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// A read, or a write the server refused: nothing changed.
    Nothing,
    /// A write that reached the connection: if the answer was lost, it may have been applied.
    Write,
}

/// The store's error for a driver error. The server's refusals are named (a wrong password
/// `Unauthenticated`, a missing privilege `PermissionDenied`, a missing database
/// `InvalidConfig`, a server shutting down `Unavailable`); a connection lost or a deadline
/// passed is `Unavailable` for a read and `Ambiguous` for a write; a TLS failure (a certificate
/// refused either way, a server without TLS) is `Tls`.
pub(crate) fn store_error(err: tokio_postgres::Error, sent: Sent) -> Error {
    if let Some(message) = crate::tls::failure(&err) {
        return Error::Tls { message };
    }
    let Some(db) = err.as_db_error() else {
        let message = format!("PostgreSQL: {err}");
        return match sent {
            Sent::Write => Error::Ambiguous {
                message,
                source: Some(Box::new(err)),
            },
            Sent::Nothing => Error::Unavailable {
                message,
                source: Some(Box::new(err)),
            },
        };
    };
    let message = format!("PostgreSQL: {}", db.message());
    let code = db.code();
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        Error::Unauthenticated { message }
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        Error::PermissionDenied { message }
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        Error::InvalidConfig { message }
    } else if [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::QUERY_CANCELED,
    ]
    .contains(code)
    {
        // The server answered with an error: the statement's transaction did not commit.
        Error::Unavailable {
            message,
            source: Some(Box::new(err)),
        }
    } else {
        Error::Backend {
            message,
            source: Some(Box::new(err)),
        }
    }
}

/// The store's error for a connection the pool could not give (nothing was sent).
pub(crate) fn pool_error(err: PoolError) -> Error {
    match err {
        PoolError::Backend(err) => store_error(err, Sent::Nothing),
        PoolError::Closed => Error::Closed {
            what: "the PostgreSQL store's connections".to_owned(),
        },
        other => Error::Unavailable {
            message: format!("PostgreSQL: no connection: {other}"),
            source: Some(Box::new(other)),
        },
    }
}

/// A deadline passed before the server answered.
pub(crate) fn timed_out(sent: Sent) -> Error {
    let message = "PostgreSQL did not answer within the request timeout".to_owned();
    match sent {
        Sent::Nothing => Error::Unavailable {
            message,
            source: None,
        },
        Sent::Write => Error::Ambiguous {
            message,
            source: None,
        },
    }
}

/// A row the store cannot have written.
pub(crate) fn corrupt(what: String) -> Error {
    Error::Backend {
        message: format!("corrupt store: {what}"),
        source: None,
    }
}
