//! The key namespace, and conversions between etcd's and kvstore's key-values.

use bytes::Bytes;
use kvstore_core::backend::KeyValue;
use kvstore_core::{Error, LeaseId, Result};

/// Prepends and strips the configured namespace.
#[derive(Debug, Clone, Default)]
pub(crate) struct Namespace {
    prefix: String,
}

impl Namespace {
    pub fn new(prefix: String) -> Self {
        Namespace { prefix }
    }

    /// The etcd key for `key`.
    pub fn key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(self.prefix.as_bytes());
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// The key `raw` names inside the namespace; `None` for a key outside it (or not UTF-8).
    pub fn inside(&self, raw: &[u8]) -> Option<String> {
        let key = raw.strip_prefix(self.prefix.as_bytes())?;
        if !self.prefix.is_empty() && !key.starts_with(b"/") {
            return None;
        }
        std::str::from_utf8(key).ok().map(str::to_owned)
    }

    /// Whether the namespace is the whole keyspace.
    pub fn is_everything(&self) -> bool {
        self.prefix.is_empty()
    }

    /// Converts a key-value read from etcd.
    pub fn key_value(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        let raw = kv.key();
        let key = raw
            .strip_prefix(self.prefix.as_bytes())
            .and_then(|k| std::str::from_utf8(k).ok())
            .ok_or_else(|| Error::Backend {
                message: format!(
                    "etcd returned key {:?} outside the namespace or not UTF-8",
                    String::from_utf8_lossy(raw)
                ),
                source: None,
            })?;
        Ok(KeyValue {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: revision(kv.create_revision()),
            mod_revision: revision(kv.mod_revision()),
            lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
        })
    }

    /// Converts the key-values of a read, taking their buffers (no copy of the values).
    pub fn key_values(&self, kvs: Vec<etcd_client::KeyValue>) -> Result<Vec<KeyValue>> {
        kvs.into_iter().map(|kv| self.owned_key_value(kv)).collect()
    }

    /// Converts a key-value read from etcd, taking its buffers.
    fn owned_key_value(&self, kv: etcd_client::KeyValue) -> Result<KeyValue> {
        let (create_revision, mod_revision, lease) =
            (kv.create_revision(), kv.mod_revision(), kv.lease());
        let (raw, value) = kv.into_key_value();
        let key = match raw.strip_prefix(self.prefix.as_bytes()) {
            Some(key) if key.len() == raw.len() => String::from_utf8(raw).ok(),
            Some(key) => std::str::from_utf8(key).ok().map(str::to_owned),
            None => None,
        };
        let key = key.ok_or_else(|| Error::Backend {
            message: "etcd returned a key outside the namespace or not UTF-8".to_owned(),
            source: None,
        })?;
        Ok(KeyValue {
            key,
            value: Bytes::from(value),
            create_revision: revision(create_revision),
            mod_revision: revision(mod_revision),
            lease: (lease != 0).then_some(LeaseId(lease)),
        })
    }
}

/// etcd revisions are non-negative `i64`s.
pub(crate) fn revision(revision: i64) -> u64 {
    u64::try_from(revision).unwrap_or(0)
}

/// A kvstore revision as etcd's `i64`.
pub(crate) fn etcd_revision(revision: u64) -> Result<i64> {
    i64::try_from(revision)
        .map_err(|_| Error::InvalidArgument(format!("revision {revision} is out of etcd's range")))
}

/// The revision in a response header.
pub(crate) fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> u64 {
    header.map_or(0, |h| revision(h.revision()))
}
