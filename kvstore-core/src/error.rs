//! The one error type of kvstore.

use std::fmt;

use crate::lease::LeaseId;
use crate::meta::TypeMeta;
use crate::resource_version::{InvalidResourceVersion, ResourceVersion};

/// A boxed error kept as the source of another.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout kvstore.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kvstore, named by *what happened*.
///
/// The enum is non-exhaustive: match on the predicates (`is_not_found`, `is_conflict`, ...)
/// when you only care about one class of failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key (or prefix) is not acceptable; see [`crate::key`] for the rules.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// No object is stored at the key.
    #[error("{key}: not found")]
    NotFound {
        /// The key that was looked up.
        key: String,
    },
    /// An object is already stored at the key.
    #[error("{key}: already exists")]
    AlreadyExists {
        /// The key that was written.
        key: String,
    },
    /// A compare-and-swap or a precondition failed: the object changed since it was read.
    #[error("{key}: conflict, current resource version is {current}")]
    Conflict {
        /// The key that was written.
        key: String,
        /// The resource version currently stored.
        current: ResourceVersion,
    },
    /// The requested revision is no longer retained (compacted); list again.
    #[error("revision {revision} is no longer available (compacted up to {compacted})")]
    Gone {
        /// The revision that was asked for.
        revision: u64,
        /// The store's compaction point, when known (0 when not).
        compacted: u64,
    },
    /// The store could not be reached or did not answer in time; the same call may succeed
    /// later.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// A write was sent and then the connection was lost, or its deadline passed, before the
    /// store answered: it may or may not have been applied. Not retryable as the same call in
    /// general (a create could then find the caller's own object, a delete its own tombstone);
    /// read the key to learn the outcome. [`Store::create`](crate::Store::create) does so
    /// itself: it recognises its own object by uid.
    #[error("outcome unknown: {message}")]
    Ambiguous {
        /// What failed.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// The lease does not exist any more (expired or revoked), or the handle keeping it alive
    /// has lost it (a lock or election entry, an ephemeral object).
    #[error("lease {lease} not found (expired or revoked)")]
    LeaseNotFound {
        /// The lease.
        lease: LeaseId,
    },
    /// An election handle was asked to do what only the leader may (resign).
    #[error("{id} does not lead election {election}")]
    NotLeader {
        /// The election.
        election: String,
        /// The contender's id.
        id: String,
    },
    /// The handle was closed: its background work ended, or it was already released
    /// (a lock unlocked, an ephemeral object destroyed, a campaign stopped, a cache dropped).
    #[error("{what} is closed")]
    Closed {
        /// What was closed (e.g. "lock /locks/a", "the campaign in election /e").
        what: String,
    },
    /// The stored bytes at the key could not be decoded, or an object could not be encoded.
    #[error("{key}: {source}")]
    Codec {
        /// The key of the value.
        key: String,
        /// What the codec reported.
        #[source]
        source: CodecError,
    },
    /// The value at the key is of another kind than the one asked for.
    #[error("{key}: stored object is a {found}, expected a {expected}")]
    KindMismatch {
        /// The key of the value.
        key: String,
        /// The kind the caller asked for.
        expected: Box<TypeMeta>,
        /// The kind found in the stored value.
        found: Box<TypeMeta>,
    },
    /// The value at the key is of a kind the [`Scheme`](crate::Scheme) does not know.
    #[error("{key}: kind {found} is not registered in the scheme")]
    UnknownKind {
        /// The key of the value.
        key: String,
        /// The kind found in the stored value.
        found: Box<TypeMeta>,
    },
    /// The value at the key is stored in a version of the asked-for kind that this program
    /// does not know (written by a newer program, or a version not registered in the
    /// [`Scheme`](crate::Scheme)); or a write in a version the scheme does not know.
    #[error(
        "{key}: stored as {found}, a version of the kind this program cannot convert to {expected}"
    )]
    UnknownVersion {
        /// The key of the value.
        key: String,
        /// The version the caller asked for.
        expected: Box<TypeMeta>,
        /// The version found.
        found: Box<TypeMeta>,
    },
    /// A conversion between two versions of a kind returned an error or panicked; nothing was
    /// written.
    #[error("{key}: cannot convert {from} to {to}: {source}")]
    Conversion {
        /// The key of the object.
        key: String,
        /// The version converted from (the stored one on a read).
        from: Box<TypeMeta>,
        /// The version converted to (the one asked for on a read, the storage version on a
        /// write).
        to: Box<TypeMeta>,
        /// The conversion's error, or the panic's message.
        #[source]
        source: BoxError,
    },
    /// A write would store an object as a version that cannot represent all of it, or the
    /// object was read from a version this one cannot represent (it carries
    /// [`LOSSY_CONVERSION_ANNOTATION`](crate::LOSSY_CONVERSION_ANNOTATION)); nothing was
    /// written, nothing was lost.
    #[error(
        "{key}: writing {from} as {to} would lose what {to} cannot represent; nothing was written"
    )]
    LossyConversion {
        /// The key of the object.
        key: String,
        /// The version holding more.
        from: Box<TypeMeta>,
        /// The version that cannot represent it.
        to: Box<TypeMeta>,
    },
    /// A [`Scheme`](crate::Scheme) registration was refused.
    #[error("invalid scheme: {0}")]
    InvalidScheme(#[from] crate::scheme::error::SchemeError),
    /// The store refused the call: the user's roles do not permit it (e.g. a key outside the
    /// prefix it may use).
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// What the store said.
        message: String,
    },
    /// The store did not accept the client's credentials: an unknown user, a wrong password,
    /// an authentication token it no longer honours. Never shows the password.
    #[error("not authenticated: {message}")]
    Unauthenticated {
        /// What the store said.
        message: String,
    },
    /// A TLS connection to the store failed in a way repeating cannot mend: the server's
    /// certificate is not trusted, expired or for another name; the server refused the client's
    /// certificate (or wants one); or one side speaks TLS and the other does not.
    #[error("TLS: {message}")]
    Tls {
        /// What failed, and the likely fix.
        message: String,
    },
    /// A store configuration or URL is not usable: malformed, an unknown scheme (the message
    /// lists the known ones), a backend not compiled in (the message names the feature), an
    /// option the backend does not take. Never shows a password.
    #[error("invalid store configuration: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
    /// The store cannot do what was asked (e.g. an etcd release that cannot promise watch
    /// progress); a fallback, if there is one, is the caller's choice.
    #[error("not supported by this store: {what}")]
    Unsupported {
        /// What cannot be done, and why.
        what: String,
    },
    /// A caller-supplied argument is wrong (a resource version on create, a bad continue token...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The encoded object is larger than the store's value-size limit
    /// ([`Store::with_max_value_size`](crate::Store::with_max_value_size)); nothing was written.
    #[error("{key}: the encoded object is {size} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        /// The key that was written.
        key: String,
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A read-modify-write gave up after too many conflicting writers.
    #[error("{key}: gave up after {attempts} conflicting attempts")]
    TooManyConflicts {
        /// The key being updated.
        key: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The closure of a read-modify-write returned an error; nothing was written.
    #[error("{key}: update aborted: {source}")]
    Aborted {
        /// The key being updated.
        key: String,
        /// The closure's error.
        #[source]
        source: BoxError,
    },
    /// Any other failure reported by a backend.
    #[error("backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// The key or object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
    /// The key already exists.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::AlreadyExists { .. })
    }
    /// A compare-and-swap or precondition failed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
    /// The revision asked for was compacted; the caller should list again.
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::Gone { .. })
    }
    /// The store could not be reached; retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }
    /// A write's outcome is unknown: it may or may not have been applied.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Error::Ambiguous { .. })
    }
    /// The key was rejected by validation.
    pub fn is_invalid_key(&self) -> bool {
        matches!(self, Error::InvalidKey { .. })
    }
    /// A caller-supplied argument was rejected.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Error::InvalidArgument(_))
    }
    /// The stored value could not be decoded, or is of another kind, or of a version this
    /// program does not know.
    pub fn is_codec(&self) -> bool {
        matches!(
            self,
            Error::Codec { .. }
                | Error::KindMismatch { .. }
                | Error::UnknownKind { .. }
                | Error::UnknownVersion { .. }
        )
    }
    /// The value is stored in a version of its kind this program does not know.
    pub fn is_unknown_version(&self) -> bool {
        matches!(self, Error::UnknownVersion { .. })
    }
    /// A conversion between versions of a kind failed, or would have lost data.
    pub fn is_conversion(&self) -> bool {
        matches!(
            self,
            Error::Conversion { .. } | Error::LossyConversion { .. }
        )
    }
    /// The lease is gone.
    pub fn is_lease_not_found(&self) -> bool {
        matches!(self, Error::LeaseNotFound { .. })
    }
    /// The election handle does not lead.
    pub fn is_not_leader(&self) -> bool {
        matches!(self, Error::NotLeader { .. })
    }
    /// The store refused the call for lack of permission.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Error::PermissionDenied { .. })
    }
    /// The store did not accept the credentials.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, Error::Unauthenticated { .. })
    }
    /// A TLS connection failed (certificates, or TLS on one side only).
    pub fn is_tls(&self) -> bool {
        matches!(self, Error::Tls { .. })
    }
    /// The store configuration or URL is not usable.
    pub fn is_invalid_config(&self) -> bool {
        matches!(self, Error::InvalidConfig { .. })
    }
    /// The object was over the value-size limit.
    pub fn is_value_too_large(&self) -> bool {
        matches!(self, Error::ValueTooLarge { .. })
    }
    /// The store cannot do what was asked.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. })
    }
    /// The handle was closed or already released.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed { .. })
    }
    /// Whether repeating *the same call, with the same arguments,* can succeed.
    ///
    /// True for [`Error::Unavailable`] (the store may answer next time) and
    /// [`Error::TooManyConflicts`] (a read-modify-write reads afresh on every call). False for
    /// everything else, [`Error::Conflict`] included: a compare-and-swap with the same stale
    /// resource version fails again; read the object and apply the change to it (or use
    /// [`Store::guaranteed_update`](crate::Store::guaranteed_update)). False for
    /// [`Error::Ambiguous`] too: the write may have been applied, so repeating it is safe only
    /// where the operation is idempotent (an unconditional put of the same value, a
    /// read-modify-write whose closure sets rather than adds).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::TooManyConflicts { .. }
        )
    }

    /// The key the error is about, when it names one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::InvalidKey { key, .. }
            | Error::NotFound { key }
            | Error::AlreadyExists { key }
            | Error::Conflict { key, .. }
            | Error::Codec { key, .. }
            | Error::KindMismatch { key, .. }
            | Error::UnknownKind { key, .. }
            | Error::UnknownVersion { key, .. }
            | Error::Conversion { key, .. }
            | Error::LossyConversion { key, .. }
            | Error::ValueTooLarge { key, .. }
            | Error::TooManyConflicts { key, .. }
            | Error::Aborted { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Builds an [`Error::Unavailable`] keeping `source`.
    pub fn unavailable(message: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// Builds an [`Error::Ambiguous`] keeping `source`.
    pub fn ambiguous(message: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        Error::Ambiguous {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// Builds an [`Error::Backend`] keeping `source`.
    pub fn backend(message: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn not_found(key: &str) -> Self {
        Error::NotFound {
            key: key.to_owned(),
        }
    }

    pub(crate) fn conflict(key: &str, current_revision: u64) -> Self {
        Error::Conflict {
            key: key.to_owned(),
            current: ResourceVersion::of(current_revision),
        }
    }

    /// Attaches `key` to a codec failure, turning a kind mismatch into [`Error::KindMismatch`].
    pub fn from_codec(key: &str, source: CodecError) -> Self {
        match source {
            CodecError::KindMismatch { expected, found } => Error::KindMismatch {
                key: key.to_owned(),
                expected,
                found,
            },
            source => Error::Codec {
                key: key.to_owned(),
                source,
            },
        }
    }
}

impl From<InvalidResourceVersion> for Error {
    fn from(err: InvalidResourceVersion) -> Self {
        Error::InvalidArgument(err.to_string())
    }
}

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes were written in another format than the codec reads.
    #[error("value is in {found} format, this codec reads {expected}")]
    WrongFormat {
        /// The codec's format.
        expected: &'static str,
        /// The format found in the bytes.
        found: String,
    },
    /// The value is of another kind than the one asked for.
    #[error("stored object is a {found}, expected a {expected}")]
    KindMismatch {
        /// The kind asked for.
        expected: Box<TypeMeta>,
        /// The kind found.
        found: Box<TypeMeta>,
    },
    /// The bytes are not a valid value of the format.
    #[error("malformed {format} value: {source}")]
    Malformed {
        /// The codec's format.
        format: &'static str,
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// The object could not be encoded.
    #[error("cannot encode as {format}: {source}")]
    Encode {
        /// The codec's format.
        format: &'static str,
        /// The serializer's error.
        #[source]
        source: BoxError,
    },
    /// A value encrypted at rest could not be decrypted (an unknown key, tampered bytes or
    /// bytes moved from another key, plaintext where ciphertext is required) or encrypted.
    #[error("encryption at rest: {0}")]
    Encryption(String),
}

impl CodecError {
    /// A [`CodecError::Malformed`] for `format`.
    pub fn malformed(format: &'static str, source: impl Into<BoxError>) -> Self {
        CodecError::Malformed {
            format,
            source: source.into(),
        }
    }
}
