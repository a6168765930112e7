//! The codec the command line reads and writes with: [`Untyped`], encrypted at rest when keys
//! were given.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kvstore::encryption::{Encrypted, EncryptionKey, KeyRing};
use kvstore::{Codec, CodecError, CodecFor, TypeMeta};
use kvstore_codec::untyped::{Untyped, UntypedObject};

use crate::error::{CliError, CliResult};

/// [`Untyped`], or [`Untyped`] encrypted at rest.
#[derive(Debug, Clone)]
pub(crate) enum CliCodec {
    Plain(Untyped),
    Encrypted(Encrypted<Untyped>),
}

impl CliCodec {
    /// `untyped`, encrypted with `ring` if there is one.
    pub(crate) fn new(untyped: Untyped, ring: Option<&KeyRing>) -> Self {
        match ring {
            Some(ring) => CliCodec::Encrypted(Encrypted::new(untyped, ring.clone())),
            None => CliCodec::Plain(untyped),
        }
    }
}

/// The key ring of `--encryption-key NAME=BASE64` arguments (the first encrypts); `None` when
/// none was given. The error never shows a key's bytes.
pub(crate) fn key_ring(keys: &[String]) -> CliResult<Option<KeyRing>> {
    let mut ring: Option<KeyRing> = None;
    for spec in keys.iter().filter(|spec| !spec.trim().is_empty()) {
        let (name, secret) = spec.trim().split_once('=').ok_or_else(|| {
            CliError::Input("an encryption key is NAME=BASE64 (32 bytes)".to_owned())
        })?;
        let bytes = STANDARD.decode(secret).ok();
        let secret: [u8; 32] = bytes
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                CliError::Input(format!(
                    "encryption key {name:?} must be 32 bytes in base64"
                ))
            })?;
        let key = EncryptionKey::new(name, &secret)?;
        ring = Some(match ring {
            None => KeyRing::new(key),
            Some(ring) => ring.with_key(key),
        });
    }
    Ok(ring)
}

impl Codec for CliCodec {
    fn format(&self) -> &'static str {
        match self {
            CliCodec::Plain(codec) => codec.format(),
            CliCodec::Encrypted(codec) => codec.format(),
        }
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        match self {
            CliCodec::Plain(codec) => codec.type_meta(bytes),
            CliCodec::Encrypted(codec) => codec.type_meta(bytes),
        }
    }

    fn seal(&self, key: &str, encoded: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        match self {
            CliCodec::Plain(codec) => codec.seal(key, encoded),
            CliCodec::Encrypted(codec) => codec.seal(key, encoded),
        }
    }

    fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, CodecError> {
        match self {
            CliCodec::Plain(codec) => codec.open(key, stored),
            CliCodec::Encrypted(codec) => codec.open(key, stored),
        }
    }
}

impl CodecFor<UntypedObject> for CliCodec {
    fn encode(&self, object: &UntypedObject) -> Result<Vec<u8>, CodecError> {
        match self {
            CliCodec::Plain(codec) => codec.encode(object),
            CliCodec::Encrypted(codec) => codec.encode(object),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<UntypedObject, CodecError> {
        match self {
            CliCodec::Plain(codec) => codec.decode(bytes),
            CliCodec::Encrypted(codec) => codec.decode(bytes),
        }
    }
}
