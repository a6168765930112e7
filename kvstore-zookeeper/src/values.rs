//! Values up to [`INLINE`] bytes are kept in the key's record and in the log entries (so a get
//! is one round trip). Larger ones live in znodes of their own (`values/<id>`, then
//! `values/<id>~1`, ... for values over one chunk), written once and never changed; keys and
//! log entries refer to them by id, and they are deleted when the event that replaced or
//! deleted them is compacted away.
//!
//! A value's id starts with the revision of the commit that writes it (`<revision, 20
//! digits>-<uuid>`). Values of a large commit are written before its `multi`; a client that
//! dies between the two (or whose `multi` lost the race for its revision, or whose outcome is
//! unknown) leaves value znodes no record refers to. Compaction finds them: once the
//! compaction point passes a value's revision, the log entry of that revision says whether its
//! commit created the value; if it did not, the value is an orphan and is deleted.

use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::future::try_join_all;
use kvstore_core::{Error, Result};

use crate::inner::Inner;
use crate::layout::CHUNK;
use crate::records::{corrupt, ValueRef};

/// A value to write: where it will be, and its chunks' znodes and bytes.
pub(crate) struct NewValue {
    pub reference: ValueRef,
    pub chunks: Vec<(String, Bytes)>,
}

/// Values up to this size are kept in the records that refer to them.
pub(crate) const INLINE: usize = 4096;

impl NewValue {
    /// A value the commit of `revision` writes; kept in the records when `in_records` and
    /// small enough.
    pub fn new(inner: &Inner, value: &Bytes, in_records: bool, revision: u64) -> NewValue {
        if in_records && value.len() <= INLINE {
            return NewValue {
                reference: inline(value),
                chunks: Vec::new(),
            };
        }
        let id = format!("{revision:020}-{}", uuid::Uuid::new_v4().simple());
        let pieces: Vec<Bytes> = if value.is_empty() {
            vec![Bytes::new()]
        } else {
            value.chunks(CHUNK).map(|c| value.slice_ref(c)).collect()
        };
        let chunks = pieces
            .into_iter()
            .enumerate()
            .map(|(n, bytes)| (inner.layout.value_chunk(&id, n as u32), bytes))
            .collect::<Vec<_>>();
        NewValue {
            reference: ValueRef::Znodes {
                id,
                len: value.len(),
                chunks: chunks.len() as u32,
            },
            chunks,
        }
    }
}

/// A value kept in the records: as text when it is UTF-8, else in base64.
pub(crate) fn inline(value: &[u8]) -> ValueRef {
    match std::str::from_utf8(value) {
        Ok(text) => ValueRef::Text(text.to_owned()),
        Err(_) => ValueRef::Base64(base64::engine::general_purpose::STANDARD.encode(value)),
    }
}

/// The znodes of a value.
pub(crate) fn chunk_paths(inner: &Inner, value: &ValueRef) -> Vec<String> {
    match value {
        ValueRef::Znodes { id, chunks, .. } => (0..*chunks)
            .map(|n| inner.layout.value_chunk(id, n))
            .collect(),
        ValueRef::Text(_) | ValueRef::Base64(_) | ValueRef::Record => Vec::new(),
    }
}

/// The id of the value a `values/` child belongs to, and the revision of the commit that
/// wrote it; `None` for names of another form (values written before ids carried revisions).
pub(crate) fn parse_value_name(name: &str) -> Option<(&str, u64)> {
    let id = name.split_once('~').map_or(name, |(id, _)| id);
    let (revision, rest) = id.split_once('-')?;
    let revision = (revision.len() == 20 && !rest.is_empty())
        .then(|| revision.parse().ok())
        .flatten()?;
    Some((id, revision))
}

/// Reads values, all requests sent at once. `Ok(None)` for a value whose znodes are gone
/// (compacted away while the read was under way).
pub(crate) async fn read(inner: &Inner, values: &[&ValueRef]) -> Result<Vec<Option<Bytes>>> {
    let client = inner.conn.client();
    let mut requests = Vec::new();
    for value in values {
        for path in chunk_paths(inner, value) {
            let request = client.get_data(&path);
            requests.push(async move {
                let found = inner.conn.call_maybe("reading a value", request).await?;
                Ok::<_, Error>(found.map(|(data, _)| data))
            });
        }
    }
    let mut chunks = try_join_all(requests).await?.into_iter();
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        let (id, len, count) = match value {
            ValueRef::Text(text) => {
                out.push(Some(Bytes::copy_from_slice(text.as_bytes())));
                continue;
            }
            ValueRef::Base64(encoded) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| corrupt(inner.layout.root(), format!("a value in base64: {e}")))?;
                out.push(Some(Bytes::from(bytes)));
                continue;
            }
            ValueRef::Znodes { id, len, chunks } => (id, *len, *chunks),
            // Log entries' puts are resolved (`log::read_resolved`) before their values are read.
            ValueRef::Record => {
                return Err(corrupt(
                    inner.layout.root(),
                    "a value left to a key's record where the record itself was expected",
                ))
            }
        };
        let mut bytes = BytesMut::with_capacity(len);
        let mut missing = false;
        for chunk in chunks.by_ref().take(count as usize) {
            match chunk {
                Some(data) => bytes.extend_from_slice(&data),
                None => missing = true,
            }
        }
        if missing {
            out.push(None);
        } else if bytes.len() != len {
            return Err(corrupt(
                &inner.layout.value_chunk(id, 0),
                format!("{} bytes where {len} were written", bytes.len()),
            ));
        } else {
            out.push(Some(bytes.freeze()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_value_name;

    #[test]
    fn value_names_carry_their_commits_revision() {
        let id = "00000000000000000042-9f1c";
        assert_eq!(parse_value_name(id), Some((id, 42)));
        assert_eq!(parse_value_name(&format!("{id}~3")), Some((id, 42)));
        for other in [
            "9f1c0d2e",
            "42-9f1c",
            "0000000000000000004x-9f1c",
            "00000000000000000042-",
        ] {
            assert_eq!(parse_value_name(other), None, "{other}");
        }
    }
}
