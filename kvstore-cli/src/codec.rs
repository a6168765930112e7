//! The codec the command line reads and writes with: [`Untyped`], encrypted at rest when keys
//! were given.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kvstore::encryption::{Encrypted, EncryptionKey, KeyRing};
use kvstore::{Codec, CodecError, CodecFor, TypeMeta};
use kvstore_codec::untyped::{Untyped, UntypedObject};

use crate::error::{CliError, CliResult};
use crate::kinds::Kinds;

/// [`Untyped`], encrypted at rest when there are keys, reading and writing the [`Kinds`] the
/// command line was built with through their types.
#[derive(Clone)]
pub(crate) struct CliCodec {
    untyped: Untyped,
    encryption: Option<Encrypted<Untyped>>,
    kinds: Kinds,
}

impl CliCodec {
    /// `untyped`, encrypted with `ring` if there is one, knowing `kinds`.
    pub(crate) fn new(untyped: Untyped, ring: Option<&KeyRing>, kinds: &Kinds) -> Self {
        CliCodec {
            encryption: ring.map(|ring| Encrypted::new(untyped.clone(), ring.clone())),
            untyped,
            kinds: kinds.clone(),
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
        self.untyped.format()
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        self.untyped.type_meta(bytes)
    }

    fn seal(&self, key: &str, encoded: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        match &self.encryption {
            Some(encryption) => encryption.seal(key, encoded),
            None => self.untyped.seal(key, encoded),
        }
    }

    fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, CodecError> {
        match &self.encryption {
            Some(encryption) => encryption.open(key, stored),
            None => self.untyped.open(key, stored),
        }
    }
}

impl CodecFor<UntypedObject> for CliCodec {
    fn encode(&self, object: &UntypedObject) -> Result<Vec<u8>, CodecError> {
        match self.kinds.typed(&object.type_meta) {
            Some(typed) => typed.encode(object),
            None => self.untyped.encode(object),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<UntypedObject, CodecError> {
        // The untyped codec checks the kind asked for; a registered kind is read by its type.
        let object = self.untyped.decode(bytes)?;
        match self.kinds.typed(&object.type_meta) {
            Some(typed) => typed.decode(bytes),
            None => Ok(object),
        }
    }
}
