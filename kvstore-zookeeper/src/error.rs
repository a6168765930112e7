//! ZooKeeper's errors as kvstore's.

use kvstore_core::Error;
use zookeeper_client as zk;

/// ZooKeeper's error as kvstore's: lost connections, expired sessions and overload are
/// `Unavailable` (retryable); refused credentials and ACLs are `Unauthenticated` and
/// `PermissionDenied`; anything else is a backend error naming the request.
pub(crate) fn map_error(what: &str, err: zk::Error) -> Error {
    use zk::Error as Z;
    let message = format!("zookeeper: {what}: {err}");
    match err {
        Z::ConnectionLoss
        | Z::SessionExpired
        | Z::ClientClosed
        | Z::NoHosts
        | Z::Timeout
        | Z::Throttled
        | Z::SessionMoved
        | Z::NotReadOnly => Error::Unavailable {
            message,
            source: Some(Box::new(err)),
        },
        // zookeeper-client's own errors: without TLS or SASL (not used here), the connection
        // failing under a request (reset, broken pipe).
        Z::Custom(_) => Error::Unavailable {
            message,
            source: Some(Box::new(err)),
        },
        Z::NoAuth => Error::PermissionDenied { message },
        Z::AuthFailed => Error::Unauthenticated { message },
        err => Error::Backend {
            message,
            source: Some(Box::new(err)),
        },
    }
}

/// The error of a write `multi` that failed as a request: one cut off after it was sent (a lost
/// connection, an expired session, a timeout) may have been applied, so it is ambiguous; one
/// that never left (no server to send it to, a closed client) is unavailable.
pub(crate) fn write_failed(source: zk::Error) -> Error {
    let sent = !matches!(source, zk::Error::NoHosts | zk::Error::ClientClosed);
    match map_error("committing a write", source) {
        Error::Unavailable { message, source } if sent => Error::Ambiguous {
            message: format!("{message}; the write may or may not have been applied"),
            source,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::write_failed;
    use super::zk;

    #[test]
    fn a_write_cut_off_after_sending_is_ambiguous() {
        for lost in [
            zk::Error::ConnectionLoss,
            zk::Error::SessionExpired,
            zk::Error::Timeout,
        ] {
            let err = write_failed(lost);
            assert!(err.is_ambiguous() && !err.is_retryable(), "{err}");
        }
        for unsent in [zk::Error::NoHosts, zk::Error::ClientClosed] {
            assert!(write_failed(unsent).is_unavailable());
        }
        assert!(write_failed(zk::Error::NoAuth).is_permission_denied());
    }
}
