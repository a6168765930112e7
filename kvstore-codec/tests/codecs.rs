//! Every codec round-trips objects, refuses other kinds and formats with typed errors, and
//! never panics on arbitrary bytes.

use kvstore_codec::{AnyCodec, Bincode, Json, Postcard, Protobuf};
use kvstore_core::{Codec, CodecError, CodecFor, Object, ObjectMeta, TypeMeta};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
struct User {
    #[prost(message, required, tag = "1")]
    metadata: ObjectMeta,
    #[prost(string, tag = "2")]
    email: String,
    #[prost(uint32, tag = "3")]
    logins: u32,
}

impl Object for User {
    const KIND: &'static str = "User";
    const API_VERSION: &'static str = "v1";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
struct Group {
    #[prost(message, required, tag = "1")]
    metadata: ObjectMeta,
    #[prost(string, repeated, tag = "2")]
    members: Vec<String>,
}

impl Object for Group {
    const KIND: &'static str = "Group";
    const API_VERSION: &'static str = "example.com/v2";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn user() -> User {
    let mut metadata = ObjectMeta::named("alice")
        .with_label("team", "a")
        .in_namespace("prod");
    metadata.uid = Some(uuid::Uuid::from_u128(
        0x0123_4567_89ab_4def_8123_4567_89ab_cdef,
    ));
    metadata.creation_timestamp = chrono::DateTime::from_timestamp(1_700_000_000, 5);
    User {
        metadata,
        email: "alice@example.com".into(),
        logins: 3,
    }
}

fn group() -> Group {
    Group {
        metadata: ObjectMeta::named("admins"),
        members: vec!["alice".into()],
    }
}

/// Runs `check` with every codec.
macro_rules! each_codec {
    ($check:ident) => {
        $check(Json);
        $check(Protobuf);
        $check(Postcard);
        $check(Bincode);
    };
}

#[test]
fn round_trips() {
    fn check<C: CodecFor<User> + CodecFor<Group>>(codec: C) {
        let bytes = CodecFor::<User>::encode(&codec, &user()).unwrap();
        assert_eq!(codec.type_meta(&bytes).unwrap(), User::type_meta());
        let back: User = codec.decode(&bytes).unwrap();
        assert_eq!(back, user(), "{}", codec.format());
        let bytes = CodecFor::<Group>::encode(&codec, &group()).unwrap();
        let back: Group = codec.decode(&bytes).unwrap();
        assert_eq!(back, group(), "{}", codec.format());
    }
    each_codec!(check);
}

#[test]
fn other_kind_is_a_kind_mismatch() {
    fn check<C: CodecFor<User> + CodecFor<Group>>(codec: C) {
        let bytes = CodecFor::<Group>::encode(&codec, &group()).unwrap();
        match CodecFor::<User>::decode(&codec, &bytes) {
            Err(CodecError::KindMismatch { expected, found }) => {
                assert_eq!(*expected, User::type_meta());
                assert_eq!(*found, TypeMeta::new("Group", "example.com/v2"));
            }
            other => panic!("{}: {:?}", codec.format(), other.map(|_| ())),
        }
    }
    each_codec!(check);
}

type EncodeFn = Box<dyn Fn(&User) -> Vec<u8>>;
type DecodeFn = Box<dyn Fn(&[u8]) -> Result<User, CodecError>>;

#[test]
fn other_format_is_a_wrong_format_error() {
    let codecs: Vec<(&str, EncodeFn, DecodeFn)> = vec![
        (
            "json",
            Box::new(|u| Json.encode(u).unwrap()),
            Box::new(|b| Json.decode(b)),
        ),
        (
            "protobuf",
            Box::new(|u| Protobuf.encode(u).unwrap()),
            Box::new(|b| Protobuf.decode(b)),
        ),
        (
            "postcard",
            Box::new(|u| Postcard.encode(u).unwrap()),
            Box::new(|b| Postcard.decode(b)),
        ),
        (
            "bincode",
            Box::new(|u| Bincode.encode(u).unwrap()),
            Box::new(|b| Bincode.decode(b)),
        ),
    ];
    for (writer, encode, _) in &codecs {
        let bytes = encode(&user());
        for (reader, _, decode) in &codecs {
            if writer == reader {
                continue;
            }
            match decode(&bytes) {
                Err(CodecError::WrongFormat { expected, found }) => {
                    assert_eq!(&expected, reader);
                    assert_eq!(&found, writer);
                }
                other => panic!("{writer} read by {reader}: {:?}", other.map(|_| ())),
            }
        }
    }
}

#[test]
fn json_is_readable_and_accepts_hand_written_values() {
    let bytes = Json.encode(&user()).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(
        text.starts_with(r#"{"apiVersion":"v1","kind":"User","metadata":{"name":"alice""#),
        "{text}"
    );
    let typed =
        r#"{"kind":"User","apiVersion":"v1","metadata":{"name":"bob"},"email":"b@x","logins":0}"#;
    let bob: User = Json.decode(typed.as_bytes()).unwrap();
    assert_eq!(bob.metadata.name, "bob");
    let missing_kind = br#"{"metadata":{"name":"bob"}}"#;
    assert!(matches!(
        CodecFor::<User>::decode(&Json, missing_kind),
        Err(CodecError::Malformed { .. })
    ));
}

#[test]
fn truncated_values_are_malformed() {
    fn check<C: CodecFor<User>>(codec: C) {
        let bytes = codec.encode(&user()).unwrap();
        for cut in [bytes.len() - 1, bytes.len() / 2, 5] {
            let result: Result<User, _> = codec.decode(&bytes[..cut]);
            assert!(result.is_err(), "{} cut at {cut}", codec.format());
        }
    }
    each_codec!(check);
}

/// A header for `User` in binary format `id`, followed by `body`.
fn framed(id: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = b"\0KV".to_vec();
    bytes.push(id);
    bytes.extend_from_slice(&[0, 4]);
    bytes.extend_from_slice(b"User");
    bytes.extend_from_slice(&[0, 2]);
    bytes.extend_from_slice(b"v1");
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn huge_length_prefixes_are_errors_not_allocations() {
    // Varint lengths claiming exabytes, in each binary format's encoding.
    let bincode_len = [0xFF, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0x7d];
    let leb128_len = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
    let protobuf_len = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
    assert!(CodecFor::<User>::decode(&Bincode, &framed(3, &bincode_len)).is_err());
    assert!(CodecFor::<User>::decode(&Postcard, &framed(2, &leb128_len)).is_err());
    assert!(CodecFor::<User>::decode(&Protobuf, &framed(1, &protobuf_len)).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = CodecFor::<User>::decode(&Json, &bytes);
        let _ = CodecFor::<User>::decode(&Protobuf, &bytes);
        let _ = CodecFor::<User>::decode(&Postcard, &bytes);
        let _ = CodecFor::<User>::decode(&Bincode, &bytes);
    }

    #[test]
    fn arbitrary_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = Json.type_meta(&bytes);
        let _ = Protobuf.type_meta(&bytes);
        let _ = Postcard.type_meta(&bytes);
        let _ = Bincode.type_meta(&bytes);
        let _ = AnyCodec::default().type_meta(&bytes);
        let _ = CodecFor::<User>::decode(&AnyCodec::default(), &bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..128)) {
        for id in 1u8..=3 {
            let bytes = framed(id, &body);
            let _ = CodecFor::<User>::decode(&Protobuf, &bytes);
            let _ = CodecFor::<User>::decode(&Postcard, &bytes);
            let _ = CodecFor::<User>::decode(&Bincode, &bytes);
        }
    }

    #[test]
    fn postcard_round_trips_any_labels(labels in proptest::collection::btree_map("[a-z]{1,8}", ".{0,8}", 0..5), email in ".{0,40}") {
        let mut u = user();
        u.metadata.labels = labels;
        u.email = email;
        let back: User = Postcard.decode(&Postcard.encode(&u).unwrap()).unwrap();
        prop_assert_eq!(back, u);
    }
}
