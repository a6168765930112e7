//! [`Capabilities`]: what a backend can do and its limits, declared in one place.

/// What a backend can do, and the limits of what it takes: declared once by each backend
/// ([`Backend::capabilities`](super::Backend::capabilities)); the limits a
/// [`Store`](crate::Store) enforces come from it ([`Store::capabilities`](crate::Store::capabilities)).
///
/// | backend | progress requests | largest transaction | largest value | TLS | authentication |
/// |---|---|---|---|---|---|
/// | memory | yes | 128 operations | 1,564,672 bytes | — | — |
/// | etcd | yes (etcd 3.4.25+, 3.5.8+: [`Backend::request_progress`](super::Backend::request_progress) says `Unsupported` before) | 128 | 1,564,672 | yes (`tls` feature) | users and roles |
/// | ZooKeeper | yes | 128 | 1,564,672 | yes (`zks://`, the secure client port) | digest users, ACLs on every znode |
/// | SQLite | yes | 128 | 1,564,672 | — | — (file permissions) |
/// | PostgreSQL | yes | 128 | 1,564,672 | yes | users and passwords |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Whether it may answer [`Backend::request_progress`](super::Backend::request_progress)
    /// (bookmarks on request, consistent cache reads served from the cache); a backend whose
    /// server decides says yes and answers `Unsupported` where the server cannot.
    pub progress_requests: bool,
    /// The most operations (writes and conditions) one transaction may hold.
    pub max_txn_ops: usize,
    /// The largest value it stores, in bytes.
    pub max_value_size: usize,
    /// Whether it can reach its store over TLS.
    pub tls: bool,
    /// Whether it can authenticate to its store (users, passwords).
    pub auth: bool,
}

impl Capabilities {
    /// The most operations of a transaction on every backend kvstore ships: etcd's default
    /// (`--max-txn-ops`).
    pub const MAX_TXN_OPS: usize = 128;

    /// The largest value on every backend kvstore ships: etcd's default request limit
    /// (`--max-request-bytes`, 1.5 MiB) less room for the key and the transaction around the
    /// value, so that every backend accepts exactly what etcd accepts.
    pub const MAX_VALUE_SIZE: usize = 1_572_864 - 8_192;

    /// A backend with none of the optional abilities and the shared limits: what
    /// [`Backend::capabilities`](super::Backend::capabilities) says unless a backend declares
    /// more, with the `with_*` builders (the struct is non-exhaustive).
    pub const fn basic() -> Capabilities {
        Capabilities {
            progress_requests: false,
            max_txn_ops: Self::MAX_TXN_OPS,
            max_value_size: Self::MAX_VALUE_SIZE,
            tls: false,
            auth: false,
        }
    }

    /// It may answer progress requests, builder style.
    pub const fn with_progress_requests(mut self) -> Self {
        self.progress_requests = true;
        self
    }

    /// It can use TLS, builder style.
    pub const fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// It can authenticate, builder style.
    pub const fn with_auth(mut self) -> Self {
        self.auth = true;
        self
    }

    /// At most `ops` operations per transaction, builder style.
    pub const fn with_max_txn_ops(mut self, ops: usize) -> Self {
        self.max_txn_ops = ops;
        self
    }

    /// Values of at most `bytes`, builder style.
    pub const fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::basic()
    }
}
