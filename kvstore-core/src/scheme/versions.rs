//! [`Versions`]: declaring the versions of one kind, their conversions and its storage version.

use super::conversion::{erase, hub_eq, KindVersions, VersionEntry};
use super::{Scheme, SchemeError};
use crate::codec::{Codec, CodecFor};
use crate::error::BoxError;
use crate::meta::TypeMeta;
use crate::object::Object;

/// The versions of one kind being registered in a [`Scheme`], from [`Scheme::versions`].
///
/// Versions convert hub-and-spoke: each converts to and from the *hub* `Hub` (n versions, 2n
/// conversions). The hub must be able to represent every version — usually the newest — and
/// is compared (`PartialEq`) to find conversions that lose data. Reads are converted to the
/// version asked for; writes are stored in the storage version ([`Versions::storage`], the hub
/// unless named).
///
/// A conversion is ordinary Rust: `From`/`TryFrom` ([`Versions::version`]) or two functions
/// ([`Versions::version_with`]); its error (or its panic, caught) becomes
/// [`Error::Conversion`](crate::Error::Conversion) naming the key and both versions. Metadata
/// never changes by conversion: during the call the object's name, namespace, uid, resource
/// version, timestamps and labels are taken out, and put back after it; the conversion sees and
/// may change the annotations only — where a version can keep what another cannot hold, so that
/// a round trip through it loses nothing. How a loss is found and refused:
/// [`LOSSY_CONVERSION_ANNOTATION`](crate::LOSSY_CONVERSION_ANNOTATION).
///
/// ```
/// use kvstore_core::{Object, ObjectMeta, Scheme};
/// # use kvstore_core::{CodecError, TypeMeta};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct WidgetV1 { metadata: ObjectMeta, color: String }
/// #[derive(Clone, Debug, PartialEq)]
/// struct WidgetV2 { metadata: ObjectMeta, colors: Vec<String> }
/// # impl Object for WidgetV1 {
/// #     const KIND: &'static str = "Widget";
/// #     const API_VERSION: &'static str = "example.com/v1";
/// #     fn metadata(&self) -> &ObjectMeta { &self.metadata }
/// #     fn metadata_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
/// # }
/// # impl Object for WidgetV2 {
/// #     const KIND: &'static str = "Widget";
/// #     const API_VERSION: &'static str = "example.com/v2";
/// #     fn metadata(&self) -> &ObjectMeta { &self.metadata }
/// #     fn metadata_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
/// # }
///
/// impl From<WidgetV1> for WidgetV2 {
///     fn from(v1: WidgetV1) -> Self {
///         WidgetV2 { metadata: v1.metadata, colors: vec![v1.color] }
///     }
/// }
/// impl From<WidgetV2> for WidgetV1 {
///     fn from(v2: WidgetV2) -> Self {
///         WidgetV1 { metadata: v2.metadata, color: v2.colors.join(",") }
///     }
/// }
/// # // A codec that encodes nothing: registering versions does not encode (the `kvstore`
/// # // crate's `Json` is what an application uses).
/// # struct Codec;
/// # fn none() -> CodecError { CodecError::WrongFormat { expected: "none", found: String::new() } }
/// # impl kvstore_core::Codec for Codec {
/// #     fn format(&self) -> &'static str { "none" }
/// #     fn type_meta(&self, _: &[u8]) -> Result<TypeMeta, CodecError> { Err(none()) }
/// # }
/// # impl<K: Object> kvstore_core::CodecFor<K> for Codec {
/// #     fn encode(&self, _: &K) -> Result<Vec<u8>, CodecError> { Err(none()) }
/// #     fn decode(&self, _: &[u8]) -> Result<K, CodecError> { Err(none()) }
/// # }
///
/// let mut scheme = Scheme::<Codec>::new();
/// scheme
///     .versions::<WidgetV2>()
///     .version::<WidgetV1>()
///     .storage::<WidgetV2>()
///     .register()?;
/// # Ok::<(), kvstore_core::SchemeError>(())
/// ```
#[must_use = "the versions are registered by `register`"]
pub struct Versions<'s, Hub, C> {
    scheme: &'s mut Scheme<C>,
    versions: Vec<VersionEntry<C>>,
    storage: Option<TypeMeta>,
    error: Option<SchemeError>,
    hub: std::marker::PhantomData<fn() -> Hub>,
}

impl<C: Codec> Scheme<C> {
    /// Starts registering the versions of `Hub`'s kind, `Hub` being the hub every version
    /// converts through; see [`Versions`].
    pub fn versions<Hub: Object + PartialEq>(&mut self) -> Versions<'_, Hub, C>
    where
        C: CodecFor<Hub>,
    {
        Versions {
            scheme: self,
            versions: vec![VersionEntry::of::<Hub>(None)],
            storage: None,
            error: None,
            hub: std::marker::PhantomData,
        }
    }
}

impl<'s, Hub: Object + PartialEq, C: Codec> Versions<'s, Hub, C> {
    /// Adds version `V`, converted with its `TryFrom` (or `From`) implementations to and from
    /// the hub.
    pub fn version<V>(self) -> Self
    where
        V: Object + TryFrom<Hub>,
        Hub: TryFrom<V>,
        <V as TryFrom<Hub>>::Error: Into<BoxError>,
        <Hub as TryFrom<V>>::Error: Into<BoxError>,
        C: CodecFor<V>,
    {
        self.version_with(Hub::try_from, V::try_from)
    }

    /// Adds version `V`, converted to the hub by `to_hub` and back by `from_hub`.
    pub fn version_with<V, E1, E2>(
        mut self,
        to_hub: impl Fn(V) -> Result<Hub, E1> + Send + Sync + 'static,
        from_hub: impl Fn(Hub) -> Result<V, E2> + Send + Sync + 'static,
    ) -> Self
    where
        V: Object,
        E1: Into<BoxError>,
        E2: Into<BoxError>,
        C: CodecFor<V>,
    {
        let entry = VersionEntry::of::<V>(Some((erase(to_hub), erase(from_hub))));
        if self.versions.iter().any(|v| v.type_id == entry.type_id) {
            return self;
        }
        let hub = Hub::type_meta();
        if !entry.type_meta.same_kind(&hub) {
            self.fail(SchemeError::NotAVersion {
                hub,
                found: entry.type_meta,
            });
        } else if let Some(first) = self
            .versions
            .iter()
            .find(|v| v.type_meta == entry.type_meta)
        {
            let error = SchemeError::DuplicateVersion {
                type_meta: entry.type_meta.clone(),
                first: first.type_name,
                second: entry.type_name,
            };
            self.fail(error);
        } else {
            self.versions.push(entry);
        }
        self
    }

    /// Makes `V` the storage version: every write is stored as `V`. Without it, the hub.
    pub fn storage<V: Object>(mut self) -> Self {
        self.storage = Some(V::type_meta());
        self
    }

    /// Registers the versions; the first mistake in declaring them is the error.
    pub fn register(self) -> Result<&'s mut Scheme<C>, SchemeError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let storage = self.storage.unwrap_or_else(Hub::type_meta);
        let Some(storage) = self.versions.iter().position(|v| v.type_meta == storage) else {
            return Err(SchemeError::StorageVersionNotRegistered { storage });
        };
        self.scheme.add_versions(KindVersions {
            versions: self.versions,
            storage,
            hub_eq: hub_eq::<Hub>,
        })?;
        Ok(self.scheme)
    }

    fn fail(&mut self, error: SchemeError) {
        self.error.get_or_insert(error);
    }
}
