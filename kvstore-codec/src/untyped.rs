//! Objects of any kind, for tools that know no Rust type (the `kvstore` command line):
//! [`inspect`] reads what a stored value's header says, [`UntypedObject`] holds an object as
//! JSON, and [`Untyped`] is its codec.
//!
//! A JSON value decodes whole: metadata and every field. A binary value (protobuf, postcard,
//! bincode) carries its kind and API version in its header, but its body (metadata included)
//! is only readable with the kind's type: it decodes as an [`UntypedObject`] whose
//! [`Body::Opaque`] says so, and cannot be written back. A value encrypted at rest is
//! readable through [`Encrypted<Untyped>`](crate::Encrypted) with its key ring; without one,
//! the error names the key it needs.

use kvstore_core::codec::{Codec, CodecError, CodecFor};
use kvstore_core::{Object, ObjectMeta, TypeMeta};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::envelope::{binary_format, describe, encryption_key_name, sniff, Format};

const NAME: &str = "json";

/// What a stored value's header says about it, without its kind's type or its key ring.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueHeader {
    /// A JSON object of this kind.
    Json(TypeMeta),
    /// A binary value of this kind in `format` (`protobuf`, `postcard` or `bincode`).
    Binary {
        /// The binary format.
        format: &'static str,
        /// The kind written in the header.
        type_meta: TypeMeta,
    },
    /// A value encrypted at rest with the key named `key_name`: only a key ring holding it
    /// tells what is inside.
    Encrypted {
        /// The name of the key the value was encrypted with.
        key_name: String,
    },
}

/// Reads the header of the stored bytes `bytes`: which envelope, codec and kind.
/// [`CodecError::WrongFormat`] for bytes no kvstore codec wrote, [`CodecError::Malformed`] for
/// a damaged header.
///
/// ```
/// use kvstore_codec::untyped::{inspect, ValueHeader};
/// use kvstore_core::TypeMeta;
///
/// let header = inspect(br#"{"apiVersion":"v1","kind":"User","metadata":{"name":"a"}}"#)?;
/// assert_eq!(header, ValueHeader::Json(TypeMeta::new("User", "v1")));
/// assert!(inspect(b"hello").is_err());
/// # Ok::<(), kvstore_core::CodecError>(())
/// ```
pub fn inspect(bytes: &[u8]) -> Result<ValueHeader, CodecError> {
    match sniff(bytes) {
        Format::Json => {
            #[derive(serde::Deserialize)]
            struct Header {
                kind: String,
                #[serde(rename = "apiVersion")]
                api_version: String,
            }
            let header: Header =
                serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(NAME, e))?;
            Ok(ValueHeader::Json(TypeMeta::new(
                header.kind,
                header.api_version,
            )))
        }
        Format::Binary(id) => match binary_format(id) {
            Some(format) => Ok(ValueHeader::Binary {
                format: format.name,
                type_meta: format.open(bytes)?.0,
            }),
            None => Err(unrecognized(bytes)),
        },
        Format::Encrypted => match encryption_key_name(bytes) {
            Some(key_name) => Ok(ValueHeader::Encrypted { key_name }),
            None => Err(CodecError::Encryption("truncated header".to_owned())),
        },
        Format::Unknown => Err(unrecognized(bytes)),
    }
}

fn unrecognized(bytes: &[u8]) -> CodecError {
    CodecError::WrongFormat {
        expected: "a kvstore value",
        found: describe(bytes),
    }
}

/// The fields of an [`UntypedObject`] beside its kind and metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body {
    /// The fields of a JSON value, by name.
    Json(Map<String, Value>),
    /// A binary value's body: unreadable without the kind's type.
    Opaque {
        /// The binary format.
        format: &'static str,
        /// The size of the stored value, in bytes.
        size: usize,
    },
}

/// An object of any kind: its kind, its metadata and its other fields as JSON.
///
/// It is an [`Object`] of every kind at once ([`Object::is_kind`] accepts any): the [`Untyped`]
/// codec checks the kind, if it was given one. [`Object::field`] reads a field by its dotted
/// path (`spec.owner`), so field selectors work on any field that holds a string, a number or
/// a boolean.
#[derive(Debug, Clone, PartialEq)]
pub struct UntypedObject {
    /// Kind and API version.
    pub type_meta: TypeMeta,
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// The other fields.
    pub body: Body,
}

impl UntypedObject {
    /// An object from its JSON document (`apiVersion`, `kind`, `metadata`, then its fields), as
    /// written in a file or as it serializes.
    pub fn from_json(document: Value) -> Result<Self, CodecError> {
        let Value::Object(mut fields) = document else {
            return Err(CodecError::malformed(
                NAME,
                "an object must be a JSON object",
            ));
        };
        let mut text = |name: &str| match fields.remove(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text),
            _ => Err(CodecError::malformed(
                NAME,
                format!("`{name}` must be a non-empty string"),
            )),
        };
        let kind = text("kind")?;
        let api_version = text("apiVersion")?;
        let metadata = match fields.remove("metadata") {
            Some(metadata) => {
                serde_json::from_value(metadata).map_err(|e| CodecError::malformed(NAME, e))?
            }
            None => return Err(CodecError::malformed(NAME, "`metadata` is missing")),
        };
        Ok(UntypedObject {
            type_meta: TypeMeta::new(kind, api_version),
            metadata,
            body: Body::Json(fields),
        })
    }
}

/// Serialized as its JSON document: `apiVersion`, `kind`, `metadata`, then its fields in name
/// order (only the first three for an [opaque](Body::Opaque) body), the way
/// [`UntypedObject::from_json`] reads it.
impl Serialize for UntypedObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = match &self.body {
            Body::Json(fields) => Some(fields),
            Body::Opaque { .. } => None,
        };
        let mut map = serializer.serialize_map(Some(3 + fields.map_or(0, Map::len)))?;
        map.serialize_entry("apiVersion", &self.type_meta.api_version)?;
        map.serialize_entry("kind", &self.type_meta.kind)?;
        map.serialize_entry("metadata", &self.metadata)?;
        for (name, value) in fields.into_iter().flatten() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl Object for UntypedObject {
    /// Any kind: the codec checks it.
    const KIND: &'static str = "*";
    /// Any version.
    const API_VERSION: &'static str = "*";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn field(&self, name: &str) -> Option<String> {
        let Body::Json(fields) = &self.body else {
            return None;
        };
        let mut path = name.split('.');
        let mut value = fields.get(path.next()?)?;
        for step in path {
            value = value.get(step)?;
        }
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    fn is_kind(_: &TypeMeta) -> bool {
        true
    }
}

/// The codec of [`UntypedObject`]: reads every kvstore envelope (JSON whole, binary as its
/// header), writes JSON. Given a kind ([`Untyped::of_kind`]), it refuses values of another kind
/// with [`CodecError::KindMismatch`], as a typed codec does; the kind's name is compared
/// without regard to case and any API version is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Untyped {
    kind: Option<String>,
}

impl Untyped {
    /// A codec for values of every kind.
    pub fn any() -> Self {
        Untyped { kind: None }
    }

    /// A codec for values of the kind named `kind` only.
    pub fn of_kind(kind: impl Into<String>) -> Self {
        Untyped {
            kind: Some(kind.into()),
        }
    }

    fn check(&self, found: &TypeMeta) -> Result<(), CodecError> {
        match &self.kind {
            Some(kind) if !kind.eq_ignore_ascii_case(&found.kind) => {
                Err(CodecError::KindMismatch {
                    expected: Box::new(TypeMeta::new(kind.clone(), "*")),
                    found: Box::new(found.clone()),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The error for a value encrypted at rest read without a key ring.
fn encrypted(key_name: &str) -> CodecError {
    CodecError::Encryption(format!(
        "the value is encrypted with key {key_name:?}: reading it needs a key ring holding that key"
    ))
}

impl Codec for Untyped {
    fn format(&self) -> &'static str {
        NAME
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        match inspect(bytes)? {
            ValueHeader::Json(type_meta) | ValueHeader::Binary { type_meta, .. } => Ok(type_meta),
            ValueHeader::Encrypted { key_name } => Err(encrypted(&key_name)),
        }
    }
}

impl CodecFor<UntypedObject> for Untyped {
    fn encode(&self, object: &UntypedObject) -> Result<Vec<u8>, CodecError> {
        let fields = match &object.body {
            Body::Json(fields) => fields,
            Body::Opaque { format, .. } => {
                return Err(CodecError::Encode {
                    format: NAME,
                    source: format!(
                        "the {format} body of a {} is unknown here: only a program with its type \
                         can write it",
                        object.type_meta
                    )
                    .into(),
                })
            }
        };
        self.check(&object.type_meta)?;
        if let Some(name) = ["apiVersion", "kind", "metadata"]
            .into_iter()
            .find(|name| fields.contains_key(*name))
        {
            return Err(CodecError::Encode {
                format: NAME,
                source: format!("the body must not hold a field named `{name}`").into(),
            });
        }
        serde_json::to_vec(object).map_err(|e| CodecError::Encode {
            format: NAME,
            source: e.into(),
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<UntypedObject, CodecError> {
        match inspect(bytes)? {
            ValueHeader::Json(type_meta) => {
                self.check(&type_meta)?;
                let document: Value =
                    serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(NAME, e))?;
                UntypedObject::from_json(document)
            }
            ValueHeader::Binary { format, type_meta } => {
                self.check(&type_meta)?;
                Ok(UntypedObject {
                    type_meta,
                    metadata: ObjectMeta::default(),
                    body: Body::Opaque {
                        format,
                        size: bytes.len(),
                    },
                })
            }
            ValueHeader::Encrypted { key_name } => Err(encrypted(&key_name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Json, Postcard};
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct User {
        metadata: ObjectMeta,
        email: String,
        age: u32,
    }

    impl Object for User {
        const KIND: &'static str = "User";
        const API_VERSION: &'static str = "example.com/v1";
        fn metadata(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn metadata_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
    }

    fn alice() -> User {
        User {
            metadata: ObjectMeta::named("alice"),
            email: "a@example.com".into(),
            age: 40,
        }
    }

    #[test]
    fn a_typed_json_value_round_trips_through_the_untyped_codec() {
        let bytes = Json.encode(&alice()).unwrap();
        let untyped = Untyped::of_kind("user").decode(&bytes).unwrap();
        assert_eq!(untyped.type_meta, User::type_meta());
        assert_eq!(untyped.metadata.name, "alice");
        assert_eq!(untyped.field("email").as_deref(), Some("a@example.com"));
        assert_eq!(untyped.field("age").as_deref(), Some("40"));
        let back: User = Json
            .decode(&Untyped::any().encode(&untyped).unwrap())
            .unwrap();
        assert_eq!(back, alice());
    }

    #[test]
    fn a_value_of_another_kind_is_refused() {
        let bytes = Json.encode(&alice()).unwrap();
        let err = Untyped::of_kind("Group").decode(&bytes).unwrap_err();
        assert!(matches!(err, CodecError::KindMismatch { .. }), "{err}");
    }

    #[test]
    fn a_binary_value_shows_its_header_and_cannot_be_written_back() {
        let bytes = Postcard.encode(&alice()).unwrap();
        assert_eq!(
            inspect(&bytes).unwrap(),
            ValueHeader::Binary {
                format: "postcard",
                type_meta: User::type_meta()
            }
        );
        let untyped = Untyped::any().decode(&bytes).unwrap();
        assert_eq!(
            untyped.body,
            Body::Opaque {
                format: "postcard",
                size: bytes.len()
            }
        );
        let err = Untyped::any().encode(&untyped).unwrap_err();
        assert!(err.to_string().contains("postcard body"), "{err}");
    }

    #[test]
    fn an_encrypted_value_names_its_key() {
        let bytes = b"kvse\x01\x07primary0123456789ab0123456789abcdef";
        assert_eq!(
            inspect(bytes).unwrap(),
            ValueHeader::Encrypted {
                key_name: "primary".into()
            }
        );
        let err = Untyped::any().decode(bytes).unwrap_err();
        assert!(err.to_string().contains("\"primary\""), "{err}");
    }

    #[test]
    fn documents_without_kind_version_or_metadata_are_refused() {
        for document in [
            json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
            json!({"kind": "User", "metadata": {"name": "a"}}),
            json!({"kind": "User", "apiVersion": "v1"}),
            json!({"kind": "User", "apiVersion": "v1", "metadata": {"name": 3}}),
            json!(["not an object"]),
        ] {
            assert!(UntypedObject::from_json(document).is_err());
        }
        assert!(matches!(
            inspect(b"\0KV\x07rest"),
            Err(CodecError::WrongFormat { .. })
        ));
    }

    #[test]
    fn fields_are_read_by_dotted_path() {
        let object = UntypedObject::from_json(json!({
            "apiVersion": "v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"owner": "bob", "replicas": 3, "paused": false, "tags": ["x"]}
        }))
        .unwrap();
        assert_eq!(object.field("spec.owner").as_deref(), Some("bob"));
        assert_eq!(object.field("spec.replicas").as_deref(), Some("3"));
        assert_eq!(object.field("spec.paused").as_deref(), Some("false"));
        assert_eq!(object.field("spec.tags"), None);
        assert_eq!(object.field("spec.missing"), None);
    }
}
