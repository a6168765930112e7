//! What the backend's znodes hold (JSON, so `zkCli.sh get` shows it), and decoding that never
//! panics: bytes that do not decode are a typed error naming the znode.

use bytes::Bytes;
use kvstore_core::backend::{Event, EventType, KeyValue};
use kvstore_core::{Error, LeaseId, Result};
use serde::{Deserialize, Serialize};

/// Where a value's bytes are: in the record itself when small (so a read of the key reads its
/// value), else in znode `values/<id>` and `chunks - 1` more (`values/<id>~<n>`). A log
/// entry's put does not repeat a small value: it says [`ValueRef::Record`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ValueRef {
    /// A small value that is UTF-8 text, as it is.
    Text(String),
    /// A small value that is not UTF-8, in base64.
    Base64(String),
    /// A value in znodes of its own.
    Znodes { id: String, len: usize, chunks: u32 },
    /// In a log entry's put: the small value is in the key's record while the put is the key's
    /// current state, then in the `prev` of the key's next change (which keeps it for its
    /// event's previous value anyway) — so each small value is stored once in the log, not
    /// twice. Entries of layout 2 hold the value here instead; both are read.
    Record,
}

/// A live key (`keys/<escaped key>`), or a key's state before an event (a log entry's `prev`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// Create revision.
    pub create: u64,
    /// Mod revision.
    #[serde(rename = "mod")]
    pub modified: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<i64>,
    pub value: ValueRef,
}

impl KeyRecord {
    /// The record as a log entry's put keeps it: a small value left to the key's record.
    pub fn logged(&self) -> KeyRecord {
        let value = match &self.value {
            ValueRef::Text(_) | ValueRef::Base64(_) => ValueRef::Record,
            other => other.clone(),
        };
        KeyRecord {
            value,
            ..self.clone()
        }
    }
}

/// One change of a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoggedEvent {
    pub key: String,
    /// The key after a put (a small value left in the key's record: [`ValueRef::Record`]);
    /// `None` for a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<KeyRecord>,
    /// The key before the change, when it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<KeyRecord>,
}

impl LoggedEvent {
    /// Whether the change wrote or replaced a value kept in znodes of its own.
    pub fn refers_to_znodes(&self) -> bool {
        [&self.put, &self.prev]
            .into_iter()
            .flatten()
            .any(|record| matches!(record.value, ValueRef::Znodes { .. }))
    }
}

/// One write transaction (`log/<revision>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogEntry {
    pub events: Vec<LoggedEvent>,
}

/// A lease (`leases/<id>`); its znode's mtime is its last renewal on the leader's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseRecord {
    pub ttl: u64,
}

pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Cannot fail: plain structs of strings and numbers.
    serde_json::to_vec(record).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(path: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(path, e))
}

/// A counter znode (`head`, `compacted`): decimal text.
pub(crate) fn decode_counter(path: &str, bytes: &[u8]) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| corrupt(path, "not a decimal revision"))
}

/// A counter znode as a `multiRead` answered it (`None`: missing, which the store never is).
pub(crate) fn read_counter(path: &str, answer: Option<Vec<u8>>) -> Result<u64> {
    match answer {
        Some(bytes) => decode_counter(path, &bytes),
        None => Err(corrupt(path, "the znode is missing")),
    }
}

pub(crate) fn encode_counter(value: u64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Bytes in the backend's znodes that it did not write.
pub(crate) fn corrupt(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::Backend {
        message: format!("zookeeper: znode {path} holds data this backend cannot read: {reason}"),
        source: None,
    }
}

impl KeyRecord {
    pub fn key_value(&self, key: &str, value: Bytes) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value,
            create_revision: self.create,
            mod_revision: self.modified,
            lease: self.lease.map(LeaseId),
        }
    }
}

impl LoggedEvent {
    /// The event, given the bytes of its value and of its previous value.
    pub fn to_event(&self, revision: u64, value: Bytes, prev: Option<Bytes>) -> Event {
        let prev_kv = self
            .prev
            .as_ref()
            .map(|p| p.key_value(&self.key, prev.unwrap_or_default()));
        match &self.put {
            Some(put) => Event::put(put.key_value(&self.key, value), prev_kv),
            None => Event {
                kind: EventType::Deleted,
                kv: KeyValue {
                    key: self.key.clone(),
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: revision,
                    lease: None,
                },
                prev_kv,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error_naming_the_znode() {
        let err = decode::<LogEntry>("/kv/log/1", b"\xff{").unwrap_err();
        assert!(err.to_string().contains("/kv/log/1"), "{err}");
        assert!(!err.is_retryable());
        assert!(decode_counter("/kv/head", b"-1").is_err());
        assert_eq!(decode_counter("/kv/head", b"17").unwrap(), 17);
    }

    #[test]
    fn records_round_trip() {
        let entry = LogEntry {
            events: vec![LoggedEvent {
                key: "/a".into(),
                put: Some(KeyRecord {
                    create: 3,
                    modified: 5,
                    lease: Some(7),
                    value: ValueRef::Znodes {
                        id: "x".into(),
                        len: 2,
                        chunks: 1,
                    },
                }),
                prev: None,
            }],
        };
        assert_eq!(decode::<LogEntry>("p", &encode(&entry)).unwrap(), entry);
    }
}
