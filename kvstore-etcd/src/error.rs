//! etcd errors as kvstore errors.

use kvstore_core::{Error, LeaseId};

/// What the failed call was about, to name it in the error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context {
    /// The revision the call asked for, if any.
    pub revision: u64,
    /// The lease the call used, if any.
    pub lease: LeaseId,
    /// Whether the call writes: a failure after it may have reached etcd is then
    /// [`Error::Ambiguous`], not [`Error::Unavailable`].
    pub write: bool,
}

/// Maps an etcd-client error to a kvstore error, keeping it as the source. A write that may have
/// reached etcd before failing (anything but a refused connection) is [`Error::Ambiguous`].
pub(crate) fn map(error: etcd_client::Error, context: Context) -> Error {
    let sent = !never_sent(&error);
    match map_any(error, context) {
        Error::Unavailable { message, source } if context.write && sent => Error::Ambiguous {
            message: format!("{message}; the write may or may not have been applied"),
            source,
        },
        other => other,
    }
}

fn map_any(error: etcd_client::Error, context: Context) -> Error {
    use etcd_client::Error as E;
    match error {
        E::GRpcStatus(status) => {
            let message = status.message();
            if let Some(reason) = tls_failure(&status) {
                Error::Tls { message: reason }
            } else if message.contains("required revision has been compacted") {
                Error::Gone {
                    revision: context.revision,
                    compacted: 0,
                }
            } else if message.contains("requested lease not found") {
                Error::LeaseNotFound {
                    lease: context.lease,
                }
            } else if message.contains("required revision is a future revision") {
                Error::InvalidArgument(format!("revision {} is in the future", context.revision))
            } else if message.contains("key not found") {
                Error::NotFound { key: String::new() }
            } else if status.code() == tonic::Code::Unauthenticated
                || message.contains("authentication failed")
                || message.contains("invalid auth token")
                || message.contains("user name not found")
                || message.contains("user name is empty")
            {
                // etcd's messages name the user at most, never the password.
                let message = match message.contains("user name is empty") {
                    true => format!("etcd has authentication on and no user was given ({message})"),
                    false => message.to_owned(),
                };
                Error::Unauthenticated { message }
            } else if status.code() == tonic::Code::PermissionDenied {
                Error::PermissionDenied {
                    message: message.to_owned(),
                }
            } else if message.contains("too large") || message.contains("larger than max") {
                // etcd's "request is too large" (over --max-request-bytes), or a gRPC message
                // over a server's or client's limit: the same request can never succeed.
                Error::backend("etcd refused a message as too large", status)
            } else {
                use tonic::Code;
                match status.code() {
                    Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Cancelled
                    | Code::Aborted
                    | Code::ResourceExhausted
                    | Code::Unknown => Error::unavailable("etcd request failed", status),
                    _ => Error::backend("etcd request failed", status),
                }
            }
        }
        E::LeaseKeepAliveError(_) => Error::LeaseNotFound {
            lease: context.lease,
        },
        error @ (E::TransportError(_) | E::IoError(_) | E::EndpointError(_)) => {
            Error::unavailable("cannot reach etcd", error)
        }
        E::WatchError(message) => Error::Unavailable {
            message: format!("etcd watch broke: {message}"),
            source: None,
        },
        error => Error::backend("etcd client error", error),
    }
}

/// The error for a watch etcd refused to create, from its reason (e.g. `rpc error: code =
/// PermissionDenied desc = etcdserver: permission denied`).
pub(crate) fn refused_watch(reason: &str) -> Error {
    if reason.contains("code = PermissionDenied") || reason.contains("permission denied") {
        Error::PermissionDenied {
            message: format!("etcd refused the watch: {reason}"),
        }
    } else if reason.contains("code = Unauthenticated") || reason.contains("invalid auth token") {
        Error::Unauthenticated {
            message: format!("etcd refused the watch: {reason}"),
        }
    } else {
        Error::Backend {
            message: format!("etcd refused the watch: {reason}"),
            source: None,
        }
    }
}

/// The error for a request that did not answer within the request timeout: a write that was
/// in flight may have been applied ([`Error::Ambiguous`]).
pub(crate) fn timed_out(what: &str, timeout: std::time::Duration, context: Context) -> Error {
    let message = format!("etcd {what} did not answer within {timeout:?}");
    match context.write {
        true => Error::Ambiguous {
            message: format!("{message}; the write may or may not have been applied"),
            source: None,
        },
        false => Error::Unavailable {
            message,
            source: None,
        },
    }
}

/// What failed in a TLS handshake, if the error (or one of its sources) says: a certificate
/// this client refused, or an alert the server sent (a client certificate it refused).
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        if text.contains("invalid peer certificate") || text.contains("InvalidCertificate") {
            return Some(format!("etcd's certificate was refused: {text}"));
        }
        if text.contains("received fatal alert") {
            return Some(format!(
                "etcd ended the TLS handshake ({text}): it refused this client's certificate, \
                 or requires one"
            ));
        }
        current = error.source();
    }
    None
}

/// Whether the server closed the connection after accepting it (a broken pipe, a reset, an
/// early end of stream), as a TLS server does to a client certificate it refuses or to plain
/// HTTP, rather than being unreachable.
pub(crate) fn closed_by_server(error: &Error) -> bool {
    use std::io::ErrorKind;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
            ) {
                return true;
            }
        }
        // hyper's word for a connection the server closed under a request.
        if current.to_string().contains("connection closed") {
            return true;
        }
        source = current.source();
    }
    false
}

/// Whether the request surely reached no server (so sending it again cannot apply it twice).
pub(crate) fn never_sent(error: &etcd_client::Error) -> bool {
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            status.code() == tonic::Code::Unavailable && status.message().contains("connect error")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{map, timed_out, Context};
    use std::time::Duration;

    fn status(code: tonic::Code, message: &str) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(tonic::Status::new(code, message))
    }

    #[test]
    fn a_write_lost_in_flight_is_ambiguous_a_read_unavailable() {
        let write = Context {
            write: true,
            ..Context::default()
        };
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Cancelled,
            tonic::Code::Unknown,
        ] {
            let lost = || status(code, "transport is closing");
            let err = map(lost(), write);
            assert!(err.is_ambiguous() && !err.is_retryable(), "{code:?}: {err}");
            let err = map(lost(), Context::default());
            assert!(
                err.is_unavailable() && err.is_retryable(),
                "{code:?}: {err}"
            );
        }
        // A refused connection sent nothing: the write is unavailable, and retryable.
        let refused = status(
            tonic::Code::Unavailable,
            "error trying to connect: connect error",
        );
        assert!(map(refused, write).is_unavailable());
        // Answers that say what happened stay what they are.
        let denied = status(
            tonic::Code::PermissionDenied,
            "etcdserver: permission denied",
        );
        assert!(map(denied, write).is_permission_denied());
        assert!(timed_out("txn", Duration::from_secs(1), write).is_ambiguous());
        assert!(timed_out("range", Duration::from_secs(1), Context::default()).is_unavailable());
    }
}
