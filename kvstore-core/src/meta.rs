//! Metadata carried by every object: [`TypeMeta`], [`ObjectMeta`] and [`ListMeta`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::resource_version::ResourceVersion;

/// What an object is: its kind and API version. Written into every stored value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// The kind, e.g. `User`.
    pub kind: String,
    /// The API version, e.g. `v1` or `example.com/v1`.
    pub api_version: String,
}

impl TypeMeta {
    /// Builds a `TypeMeta`.
    pub fn new(kind: impl Into<String>, api_version: impl Into<String>) -> Self {
        TypeMeta {
            kind: kind.into(),
            api_version: api_version.into(),
        }
    }

    /// The API group: what comes before the last `/` of the API version (`example.com` of
    /// `example.com/v1`), empty for a version without a group (`v1`).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The version within the group: `v1` of `example.com/v1`.
    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or(&*self.api_version, |(_, version)| version)
    }

    /// Whether `other` is the same kind (same group and kind), in any version.
    pub fn same_kind(&self, other: &TypeMeta) -> bool {
        self.kind == other.kind && self.group() == other.group()
    }
}

impl fmt::Display for TypeMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version, self.kind)
    }
}

/// Identity and bookkeeping of one stored object.
///
/// `uid` and `creation_timestamp` are the object's identity: the store gives an object a fresh
/// uid and the current time when it creates it at a key (`Store::create`, and the first
/// `Ephemeral::set` of an ephemeral key), replacing whatever the caller put there, and every
/// later write keeps them. `resource_version` is set by the store on every read and write and
/// is never stored inside the value itself.
///
/// In human-readable formats (JSON) empty fields are left out; compact binary formats write
/// every field, as they must.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// The object's name, unique within its namespace and kind.
    pub name: String,
    /// The namespace, for kinds that are namespaced.
    pub namespace: Option<String>,
    /// A unique id given by the store when the object was created.
    pub uid: Option<Uuid>,
    /// The store revision of the object's last write, as an opaque string.
    pub resource_version: Option<String>,
    /// When the store created the object.
    pub creation_timestamp: Option<DateTime<Utc>>,
    /// Identifying key/value pairs, matched by label selectors.
    pub labels: BTreeMap<String, String>,
    /// Free-form key/value pairs for tools.
    pub annotations: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// Metadata with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta {
            name: name.into(),
            ..ObjectMeta::default()
        }
    }

    /// Adds a label, builder style.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the namespace, builder style.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The resource version as the store set it; `None` when unset, or when the string is no
    /// resource version (set by hand).
    pub fn version(&self) -> Option<ResourceVersion> {
        self.resource_version.as_deref()?.parse().ok()
    }

    /// Gives the object the identity of a newly created one (see the type's docs), returning
    /// it: what a create does, for runtime that writes objects itself (e.g. an ephemeral
    /// object, which keeps its identity across writes with [`ObjectMeta::keep_identity`]).
    pub fn stamp_creation(&mut self) -> Identity {
        let identity = Identity {
            uid: Uuid::new_v4(),
            creation_timestamp: Utc::now(),
        };
        self.keep_identity(identity);
        identity
    }

    /// Gives the object an identity it was created with.
    pub fn keep_identity(&mut self, identity: Identity) {
        self.uid = Some(identity.uid);
        self.creation_timestamp = Some(identity.creation_timestamp);
    }
}

/// The identity the store gives an object when it creates it: a fresh uid and the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The object's uid.
    pub uid: Uuid,
    /// When it was created.
    pub creation_timestamp: DateTime<Utc>,
}

impl Serialize for ObjectMeta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let compact = !serializer.is_human_readable();
        let mut s = serializer.serialize_struct("ObjectMeta", 7)?;
        s.serialize_field("name", &self.name)?;
        field(
            &mut s,
            compact,
            "namespace",
            &self.namespace,
            Option::is_none,
        )?;
        field(&mut s, compact, "uid", &self.uid, Option::is_none)?;
        field(
            &mut s,
            compact,
            "resourceVersion",
            &self.resource_version,
            Option::is_none,
        )?;
        field(
            &mut s,
            compact,
            "creationTimestamp",
            &self.creation_timestamp,
            Option::is_none,
        )?;
        field(&mut s, compact, "labels", &self.labels, BTreeMap::is_empty)?;
        field(
            &mut s,
            compact,
            "annotations",
            &self.annotations,
            BTreeMap::is_empty,
        )?;
        s.end()
    }
}

/// Writes a field, or skips it when the format is human readable and the value is empty.
fn field<S: SerializeStruct, T: Serialize>(
    s: &mut S,
    compact: bool,
    name: &'static str,
    value: &T,
    is_empty: fn(&T) -> bool,
) -> Result<(), S::Error> {
    if compact || !is_empty(value) {
        s.serialize_field(name, value)
    } else {
        s.skip_field(name)
    }
}

/// Metadata of a list: the store revision the list was read at, and where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The store revision the whole list (every page) was read at: watch from it to follow
    /// the list with every later change. Serialized as its string form.
    pub resource_version: ResourceVersion,
    /// Opaque token for the next page; `None` on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none", default)]
    pub continue_token: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn type_meta_names_group_and_version() {
        let grouped = TypeMeta::new("Widget", "example.com/v2");
        assert_eq!((grouped.group(), grouped.version()), ("example.com", "v2"));
        let core = TypeMeta::new("Widget", "v1");
        assert_eq!((core.group(), core.version()), ("", "v1"));
        assert!(grouped.same_kind(&TypeMeta::new("Widget", "example.com/v1")));
        assert!(!grouped.same_kind(&core));
        assert!(!grouped.same_kind(&TypeMeta::new("Gadget", "example.com/v2")));
    }

    use super::*;

    #[test]
    fn json_leaves_out_empty_fields() {
        let meta = ObjectMeta::named("alice").with_label("team", "a");
        let json = serde_json::to_string(&meta).unwrap();
        assert_eq!(json, r#"{"name":"alice","labels":{"team":"a"}}"#);
        let back: ObjectMeta = serde_json::from_str(&json).unwrap();
        assert_eq!(back, meta);
    }

    #[test]
    fn type_meta_displays_as_path() {
        assert_eq!(TypeMeta::new("User", "v1").to_string(), "v1/User");
    }
}
