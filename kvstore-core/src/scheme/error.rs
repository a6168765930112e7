//! [`SchemeError`]: a registration the scheme refuses.

use crate::meta::TypeMeta;

/// Why a [`Scheme`](super::Scheme) refused a registration. Every mistake in declaring kinds and
/// versions is found when they are registered, never at the first read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// Two Rust types claim the same kind and API version.
    #[error("{type_meta} is claimed by two types: {first} and {second}")]
    DuplicateVersion {
        /// The version both claim.
        type_meta: TypeMeta,
        /// The type registered first.
        first: &'static str,
        /// The type registered second.
        second: &'static str,
    },
    /// A type of another kind (or group) was given as a version of a kind.
    #[error("{found} is not a version of {hub}'s kind")]
    NotAVersion {
        /// The hub of the kind being registered.
        hub: TypeMeta,
        /// The type's own kind and version.
        found: TypeMeta,
    },
    /// The storage version named is not among the versions registered for the kind.
    #[error("storage version {storage} is not among the registered versions of its kind")]
    StorageVersionNotRegistered {
        /// The storage version named.
        storage: TypeMeta,
    },
    /// A version of a kind with several versions has no conversion to and from its hub:
    /// registered on its own ([`Scheme::register`](super::Scheme::register)) rather than with
    /// the kind's versions ([`Scheme::versions`](super::Scheme::versions)).
    #[error("{version} has no conversion to and from the hub {hub}")]
    NoConversion {
        /// The version without a conversion.
        version: TypeMeta,
        /// The kind's hub.
        hub: TypeMeta,
    },
    /// The versions of this kind were registered already.
    #[error("the versions of {kind} are registered already")]
    AlreadyRegistered {
        /// The kind (its hub version).
        kind: TypeMeta,
    },
}
