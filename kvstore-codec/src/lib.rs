//! # kvstore-codec
//!
//! Codecs that turn kvstore objects into bytes and back. Every value is self-describing: it
//! carries its format and its kind, so reading a value with the wrong type, or one written by
//! another codec, is a clear [`CodecError`](kvstore_core::CodecError), never garbage.
//!
//! | codec | feature | for kinds that | notes |
//! |---|---|---|---|
//! | [`Json`] | `json` (default) | implement serde | human readable; what `etcdctl` shows |
//! | [`Protobuf`] | `protobuf` (default) | implement `prost::Message` | schema evolution by tags |
//! | [`Postcard`] | `postcard` (default) | implement serde | compact and fast; recommended binary codec |
//! | [`Bincode`] | `bincode` | implement serde | bincode 2.0.1, unmaintained upstream |
//! | [`Untyped`](untyped::Untyped) | `json` (default) | any kind, as JSON ([`UntypedObject`](untyped::UntypedObject)) | for tools without the kinds' types: reads every envelope, decodes JSON |
//! | [`Encrypted<C>`](Encrypted) | `encryption` | any codec's kinds | AES-256-GCM at rest, bound to the storage key; key rotation with [`reencrypt`] |
//!
//! ```
//! use kvstore_codec::Json;
//! use kvstore_core::{CodecFor, Object, ObjectMeta};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
//! struct User { metadata: ObjectMeta, email: String }
//! impl Object for User {
//!     const KIND: &'static str = "User";
//!     const API_VERSION: &'static str = "v1";
//!     fn metadata(&self) -> &ObjectMeta { &self.metadata }
//!     fn metadata_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
//! }
//!
//! let user = User { metadata: ObjectMeta::named("alice"), email: "a@example.com".into() };
//! let bytes = Json.encode(&user).unwrap();
//! assert_eq!(
//!     std::str::from_utf8(&bytes).unwrap(),
//!     r#"{"apiVersion":"v1","kind":"User","metadata":{"name":"alice"},"email":"a@example.com"}"#
//! );
//! let back: User = Json.decode(&bytes).unwrap();
//! assert_eq!(back, user);
//! ```

#[cfg(all(feature = "json", feature = "postcard"))]
mod any;
mod envelope;

#[cfg(feature = "encryption")]
pub mod encrypted;
#[cfg(feature = "json")]
pub mod untyped;

#[cfg(feature = "bincode")]
mod bincode;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "postcard")]
mod postcard;
#[cfg(feature = "protobuf")]
mod protobuf;

#[cfg(all(feature = "json", feature = "postcard"))]
pub use crate::any::AnyCodec;
#[cfg(feature = "bincode")]
pub use crate::bincode::Bincode;
#[cfg(feature = "encryption")]
pub use crate::encrypted::{reencrypt, Encrypted, EncryptionKey, KeyRing, Reencrypted};
#[cfg(feature = "json")]
pub use crate::json::Json;
#[cfg(feature = "postcard")]
pub use crate::postcard::Postcard;
#[cfg(feature = "protobuf")]
pub use crate::protobuf::Protobuf;
