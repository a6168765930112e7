//! `prost::Message` for [`ObjectMeta`], so kinds can embed it in Protobuf messages.
//!
//! Wire shape (proto3):
//! ```proto
//! message ObjectMeta {
//!   string name = 1;
//!   optional string namespace = 2;
//!   string uid = 3;                                   // hyphenated; empty when unset
//!   optional string resource_version = 4;
//!   google.protobuf.Timestamp creation_timestamp = 5;
//!   map<string, string> labels = 6;
//!   map<string, string> annotations = 7;
//! }
//! ```

use chrono::DateTime;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{btree_map, message, skip_field, string, DecodeContext, WireType};
use prost::DecodeError;
use uuid::Uuid;

use crate::meta::ObjectMeta;

#[allow(deprecated)] // the documented way for hand-written `Message` impls to report errors
fn invalid(what: &'static str) -> DecodeError {
    DecodeError::new(what)
}

fn uid_text(meta: &ObjectMeta) -> Option<String> {
    meta.uid.map(|u| u.hyphenated().to_string())
}

fn timestamp(meta: &ObjectMeta) -> Option<prost_types::Timestamp> {
    meta.creation_timestamp.map(|t| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

impl prost::Message for ObjectMeta {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.name.is_empty() {
            string::encode(1, &self.name, buf);
        }
        if let Some(ns) = &self.namespace {
            string::encode(2, ns, buf);
        }
        if let Some(uid) = uid_text(self) {
            string::encode(3, &uid, buf);
        }
        if let Some(rv) = &self.resource_version {
            string::encode(4, rv, buf);
        }
        if let Some(ts) = timestamp(self) {
            message::encode(5, &ts, buf);
        }
        btree_map::encode(
            string::encode,
            string::encoded_len,
            string::encode,
            string::encoded_len,
            6,
            &self.labels,
            buf,
        );
        btree_map::encode(
            string::encode,
            string::encoded_len,
            string::encode,
            string::encoded_len,
            7,
            &self.annotations,
            buf,
        );
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => string::merge(wire_type, &mut self.name, buf, ctx),
            2 => string::merge(
                wire_type,
                self.namespace.get_or_insert_with(String::new),
                buf,
                ctx,
            ),
            3 => {
                let mut text = String::new();
                string::merge(wire_type, &mut text, buf, ctx)?;
                self.uid = if text.is_empty() {
                    None
                } else {
                    Some(
                        Uuid::parse_str(&text)
                            .map_err(|_| invalid("ObjectMeta.uid is not a uuid"))?,
                    )
                };
                Ok(())
            }
            4 => string::merge(
                wire_type,
                self.resource_version.get_or_insert_with(String::new),
                buf,
                ctx,
            ),
            5 => {
                let mut ts = timestamp(self).unwrap_or_default();
                message::merge(wire_type, &mut ts, buf, ctx)?;
                let nanos = u32::try_from(ts.nanos)
                    .map_err(|_| invalid("ObjectMeta.creation_timestamp has negative nanos"))?;
                self.creation_timestamp = Some(
                    DateTime::from_timestamp(ts.seconds, nanos)
                        .ok_or_else(|| invalid("ObjectMeta.creation_timestamp is out of range"))?,
                );
                Ok(())
            }
            6 => btree_map::merge(string::merge, string::merge, &mut self.labels, buf, ctx),
            7 => btree_map::merge(
                string::merge,
                string::merge,
                &mut self.annotations,
                buf,
                ctx,
            ),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let mut len = 0;
        if !self.name.is_empty() {
            len += string::encoded_len(1, &self.name);
        }
        if let Some(ns) = &self.namespace {
            len += string::encoded_len(2, ns);
        }
        if let Some(uid) = uid_text(self) {
            len += string::encoded_len(3, &uid);
        }
        if let Some(rv) = &self.resource_version {
            len += string::encoded_len(4, rv);
        }
        if let Some(ts) = timestamp(self) {
            len += message::encoded_len(5, &ts);
        }
        len + btree_map::encoded_len(string::encoded_len, string::encoded_len, 6, &self.labels)
            + btree_map::encoded_len(
                string::encoded_len,
                string::encoded_len,
                7,
                &self.annotations,
            )
    }

    fn clear(&mut self) {
        *self = ObjectMeta::default();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn round_trips_every_field() {
        let meta = ObjectMeta {
            name: "alice".into(),
            namespace: Some("team".into()),
            uid: Some(Uuid::new_v4()),
            resource_version: Some("7".into()),
            creation_timestamp: DateTime::from_timestamp(1_700_000_000, 123),
            labels: [("a".to_owned(), "1".to_owned())].into(),
            annotations: [("b".to_owned(), "2".to_owned())].into(),
        };
        let bytes = meta.encode_to_vec();
        assert_eq!(bytes.len(), meta.encoded_len());
        assert_eq!(ObjectMeta::decode(bytes.as_slice()).unwrap(), meta);
    }

    #[test]
    fn rejects_a_bad_uid() {
        let mut bytes = Vec::new();
        string::encode(3, &"not-a-uuid".to_owned(), &mut bytes);
        assert!(ObjectMeta::decode(bytes.as_slice()).is_err());
    }
}
