//! The [`Object`] trait every stored kind implements, and [`ObjectList`].

use serde::{Deserialize, Serialize};

use crate::meta::{ListMeta, ObjectMeta, TypeMeta};

/// A kind of object the store can hold: a struct with [`ObjectMeta`] and a fixed kind and
/// API version. Usually implemented with `#[derive(Object)]` from the `kvstore` crate.
///
/// ```
/// use kvstore_core::{Object, ObjectMeta};
///
/// #[derive(Clone, Debug)]
/// struct User {
///     metadata: ObjectMeta,
///     email: String,
/// }
///
/// impl Object for User {
///     const KIND: &'static str = "User";
///     const API_VERSION: &'static str = "v1";
///     fn metadata(&self) -> &ObjectMeta { &self.metadata }
///     fn metadata_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
/// }
///
/// assert_eq!(User::type_meta().to_string(), "v1/User");
/// ```
pub trait Object: Clone + Send + Sync + 'static {
    /// The kind, e.g. `User`.
    const KIND: &'static str;
    /// The API version, e.g. `v1`.
    const API_VERSION: &'static str;

    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// The object's metadata, mutably.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// `TypeMeta` of this kind.
    fn type_meta() -> TypeMeta {
        TypeMeta::new(Self::KIND, Self::API_VERSION)
    }

    /// The value of the selectable field `name`, for [field selectors](crate::FieldSelector);
    /// `None` for fields the kind does not declare (the default: none). `#[derive(Object)]`
    /// implements it for the fields marked `#[object(selectable)]`.
    fn field(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }

    /// Whether `type_meta` names this kind.
    fn is_kind(type_meta: &TypeMeta) -> bool {
        type_meta.kind == Self::KIND && type_meta.api_version == Self::API_VERSION
    }
}

/// A page of objects of one kind, read at one store revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectList<K> {
    /// The revision the list was read at, and the token for the next page.
    pub metadata: ListMeta,
    /// The objects, ordered by key.
    pub items: Vec<K>,
}

impl<K: Object> ObjectList<K> {
    /// `TypeMeta` of the list: kind `<Kind>List`, the kind's API version.
    pub fn type_meta() -> TypeMeta {
        TypeMeta::new(format!("{}List", K::KIND), K::API_VERSION)
    }
}

impl<K> ObjectList<K> {
    /// Number of objects in this page.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether the page holds no object.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The token for the next page, if there is one.
    pub fn continue_token(&self) -> Option<&str> {
        self.metadata.continue_token.as_deref()
    }
}

impl<K> IntoIterator for ObjectList<K> {
    type Item = K;
    type IntoIter = std::vec::IntoIter<K>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
