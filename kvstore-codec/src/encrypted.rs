//! Encryption at rest: [`Encrypted<C>`] wraps any codec and stores AES-256-GCM ciphertext (the
//! idea of Kubernetes' `EncryptionConfiguration`).
//!
//! A stored value is `kvse` (4 bytes), a format version (1), the length of the key's name (1),
//! the name, a fresh 96-bit nonce, then the ciphertext of the inner codec's bytes with its
//! 16-byte tag. The header and the value's storage key are authenticated data: a value copied
//! to another key, or whose header was edited, does not decrypt. A [`KeyRing`] names its keys:
//! the first encrypts, every one decrypts, so keys rotate by putting a new key first and
//! running [`reencrypt`] over the prefixes that hold old values.
//!
//! It protects values from whoever reads the store's disks, backups or keys (etcd's data
//! directory, `etcdctl get`) without the key ring; it does not hide keys, sizes or revisions,
//! nor protect against a client holding the key ring.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use kvstore_core::backend::{Compare, PutLease, RangeRequest, Txn, TxnOp};
use kvstore_core::{Codec, CodecError, CodecFor, Error, Object, Result, Store, TypeMeta};

use crate::envelope::ENCRYPTED_MAGIC as MAGIC;

/// The format version written after the magic.
const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;

/// A named 256-bit key. Its `Debug` shows the name only.
#[derive(Clone)]
pub struct EncryptionKey {
    name: String,
    cipher: Aes256Gcm,
}

impl EncryptionKey {
    /// The key `name` (1 to 255 bytes, stored in every value it encrypts) with the 32 bytes of
    /// `secret`.
    pub fn new(name: impl Into<String>, secret: &[u8; 32]) -> Result<Self> {
        let name = name.into();
        if name.is_empty() || name.len() > 255 {
            return Err(Error::InvalidConfig {
                message: format!(
                    "encryption key name {name:?} must be 1 to 255 bytes (it is {})",
                    name.len()
                ),
            });
        }
        Ok(EncryptionKey {
            name,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(secret)),
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The keys of an [`Encrypted`] codec: the first encrypts, every one decrypts.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<EncryptionKey>,
    accept_plaintext: bool,
}

impl KeyRing {
    /// A ring whose `primary` key encrypts.
    pub fn new(primary: EncryptionKey) -> Self {
        KeyRing {
            keys: vec![primary],
            accept_plaintext: false,
        }
    }

    /// Adds a key that only decrypts (an older primary, during a rotation).
    pub fn with_key(mut self, key: EncryptionKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Also reads values stored in plaintext (while [`reencrypt`] migrates a prefix that was
    /// written before encryption was turned on). Off by default: a plaintext value is an error.
    pub fn accept_plaintext(mut self, accept: bool) -> Self {
        self.accept_plaintext = accept;
        self
    }

    /// The key that encrypts.
    pub fn primary(&self) -> &EncryptionKey {
        &self.keys[0]
    }

    fn find(&self, name: &[u8]) -> Option<&EncryptionKey> {
        self.keys.iter().find(|k| k.name.as_bytes() == name)
    }
}

/// A codec storing the bytes of codec `C` encrypted at rest (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Encrypted<C> {
    inner: C,
    ring: Arc<KeyRing>,
}

impl<C> Encrypted<C> {
    /// `inner`'s values, encrypted with `ring`.
    pub fn new(inner: C, ring: KeyRing) -> Self {
        Encrypted {
            inner,
            ring: Arc::new(ring),
        }
    }

    /// The key ring.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }
}

/// The parts of a stored encrypted value.
struct Sealed<'a> {
    /// Magic, version and key name: authenticated with the storage key.
    header: &'a [u8],
    key_name: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

/// Splits a stored value; `None` if it is not an encrypted value at all.
fn parse(stored: &[u8]) -> Option<std::result::Result<Sealed<'_>, CodecError>> {
    let rest = stored.strip_prefix(MAGIC.as_slice())?;
    let malformed = |why: &str| Some(Err(CodecError::Encryption(why.to_owned())));
    let [version, name_len, rest @ ..] = rest else {
        return malformed("truncated header");
    };
    if *version != VERSION {
        return malformed(&format!("unknown format version {version}"));
    }
    let name_len = usize::from(*name_len);
    if rest.len() < name_len + NONCE + TAG {
        return malformed("truncated value");
    }
    let (key_name, rest) = rest.split_at(name_len);
    let (nonce, ciphertext) = rest.split_at(NONCE);
    Some(Ok(Sealed {
        header: &stored[..MAGIC.len() + 2 + name_len],
        key_name,
        nonce,
        ciphertext,
    }))
}

/// The authenticated data of a value: its header and its storage key.
fn aad(header: &[u8], key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + key.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(key.as_bytes());
    aad
}

impl<C: Codec> Codec for Encrypted<C> {
    fn format(&self) -> &'static str {
        self.inner.format()
    }

    fn type_meta(&self, bytes: &[u8]) -> std::result::Result<TypeMeta, CodecError> {
        self.inner.type_meta(bytes)
    }

    fn seal(&self, key: &str, encoded: Vec<u8>) -> std::result::Result<Vec<u8>, CodecError> {
        let encoded = self.inner.seal(key, encoded)?;
        let primary = self.ring.primary();
        let mut sealed = Vec::with_capacity(6 + primary.name.len() + NONCE + encoded.len() + TAG);
        sealed.extend_from_slice(MAGIC);
        sealed.push(VERSION);
        sealed.push(u8::try_from(primary.name.len()).unwrap_or(u8::MAX));
        sealed.extend_from_slice(primary.name.as_bytes());
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = aad(&sealed, key);
        let ciphertext = primary
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &encoded,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                CodecError::Encryption(format!("key {:?} failed to encrypt", primary.name))
            })?;
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn open<'a>(
        &self,
        key: &str,
        stored: &'a [u8],
    ) -> std::result::Result<Cow<'a, [u8]>, CodecError> {
        let sealed = match parse(stored) {
            Some(sealed) => sealed?,
            None if self.ring.accept_plaintext => return self.inner.open(key, stored),
            None => {
                return Err(CodecError::Encryption(
                    "the value is not encrypted (KeyRing::accept_plaintext reads such values \
                     during a migration)"
                        .to_owned(),
                ))
            }
        };
        let name = String::from_utf8_lossy(sealed.key_name);
        let encryption_key = self.ring.find(sealed.key_name).ok_or_else(|| {
            CodecError::Encryption(format!(
                "encrypted with key {name:?}, which the key ring lacks"
            ))
        })?;
        let aad = aad(sealed.header, key);
        let plain = encryption_key
            .cipher
            .decrypt(
                Nonce::from_slice(sealed.nonce),
                Payload {
                    msg: sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                CodecError::Encryption(format!(
                    "key {name:?} cannot decrypt the value: it was altered, or copied from \
                     another key"
                ))
            })?;
        match self.inner.open(key, &plain)? {
            Cow::Borrowed(_) => Ok(Cow::Owned(plain)),
            Cow::Owned(inner) => Ok(Cow::Owned(inner)),
        }
    }
}

impl<C: CodecFor<K>, K: Object> CodecFor<K> for Encrypted<C> {
    fn encode(&self, object: &K) -> std::result::Result<Vec<u8>, CodecError> {
        self.inner.encode(object)
    }

    fn decode(&self, bytes: &[u8]) -> std::result::Result<K, CodecError> {
        self.inner.decode(bytes)
    }
}

/// What one call of [`reencrypt`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Values rewritten with the primary key.
    pub rewritten: usize,
    /// Values already under the primary key.
    pub current: usize,
    /// Values a concurrent writer changed between the read and the rewrite (so written anew,
    /// with the primary key of that writer's ring).
    pub raced: usize,
    /// Where to resume: pass it as `after` to continue; `None` when the prefix is done.
    pub next: Option<String>,
}

/// Rewrites with the ring's primary key every value under the directory `prefix` stored with
/// another key (or in plaintext, when the ring accepts it), at most `limit` values per call,
/// starting after the key `after` (`None`: from the start). Each rewrite is a compare-and-swap
/// on the value's revision that keeps its lease, so a concurrent writer loses nothing. Call it
/// again with the returned [`Reencrypted::next`] until that is `None`; an interrupted run
/// resumes where it stopped.
pub async fn reencrypt<C: Codec>(
    store: &Store<Encrypted<C>>,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Reencrypted> {
    let codec = store.codec();
    let mut request = RangeRequest::directory(prefix);
    if let Some(after) = after {
        request.key = format!("{after}\0");
    }
    request.limit = limit.max(1);
    let page = store.backend().range(request).await?;
    let primary = codec.ring().primary().name.as_bytes();
    let mut done = Reencrypted::default();
    for kv in &page.kvs {
        let current = matches!(parse(&kv.value), Some(Ok(sealed)) if sealed.key_name == primary);
        if current {
            done.current += 1;
            continue;
        }
        let encoded = codec
            .open(&kv.key, &kv.value)
            .map_err(|e| Error::Codec {
                key: kv.key.clone(),
                source: e,
            })?
            .into_owned();
        let sealed = codec.seal(&kv.key, encoded).map_err(|e| Error::Codec {
            key: kv.key.clone(),
            source: e,
        })?;
        let txn = Txn::when([Compare::mod_revision(&kv.key, kv.mod_revision)]).then(TxnOp::put(
            &kv.key,
            sealed.into(),
            PutLease::Keep,
        ));
        match store.backend().txn(txn).await {
            Ok(response) if response.succeeded => done.rewritten += 1,
            Ok(_) => done.raced += 1,
            // The key vanished between the read and the rewrite.
            Err(err) if err.is_not_found() => done.raced += 1,
            Err(err) => return Err(err),
        }
    }
    done.next = match page.more {
        true => page.kvs.last().map(|kv| kv.key.clone()),
        false => None,
    };
    Ok(done)
}
