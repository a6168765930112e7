//! [`Kinds`]: the Rust types a service compiles into its own command line, so that binary
//! values show whole, writes keep the kind's codec, and `migrate` knows the kind's versions.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::sync::Arc;

use futures::future::BoxFuture;
use kvstore::{CodecError, CodecFor, MigrateOptions, MigrationProgress, Object, Scheme, TypeMeta};
use kvstore_codec::untyped::UntypedObject;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The kinds a service's own command line knows by their Rust types.
///
/// The `kvstore` binary knows none: it shows JSON values whole and binary ones by their header.
/// A service builds the same command line with its kinds registered, in a few lines (see the
/// `service_cli` example):
///
/// ```no_run
/// # use kvstore::{Object, ObjectMeta, Postcard, Scheme};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Clone, Debug, Serialize, Deserialize, Object)]
/// # #[object(kind = "User", api_version = "example.com/v1")]
/// # struct User { metadata: ObjectMeta, email: String }
/// fn main() -> std::process::ExitCode {
///     let kinds = kvstore_cli::Kinds::new()
///         .kind::<User, _>(Postcard)
///         .migration::<User, _>(Postcard, || {
///             let mut scheme = Scheme::new();
///             scheme.register::<User>().expect("one version");
///             scheme
///         });
///     kvstore_cli::main_with(kinds)
/// }
/// ```
#[derive(Clone, Default)]
pub struct Kinds {
    typed: HashMap<TypeMeta, Arc<dyn TypedKind>>,
    migrations: HashMap<String, Arc<dyn Migration>>,
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kinds")
            .field("typed", &self.typed.keys().collect::<Vec<_>>())
            .field("migrations", &self.migrations.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Kinds {
    /// No kind: what the `kvstore` binary knows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Values of kind `K` (this kind and API version) are read with `codec` into `K` and shown
    /// as JSON; objects of the kind written by the command line (`apply`, `edit`) are checked
    /// by deserializing them into `K` and stored with `codec`, as the service stores them.
    pub fn kind<K, C>(mut self, codec: C) -> Self
    where
        K: Object + Serialize + DeserializeOwned,
        C: CodecFor<K> + Clone,
    {
        let typed = Typed::<K, C> {
            codec,
            kind: PhantomData,
        };
        self.typed.insert(K::type_meta(), Arc::new(typed));
        self
    }

    /// `migrate KIND` (the kind of `K`) rewrites the kind's objects in its storage version, on a
    /// store with `codec` and the scheme `scheme` builds (the kind's versions and which is
    /// stored): [`Collection::migrate`](kvstore::Collection::migrate).
    pub fn migration<K, C>(
        mut self,
        codec: C,
        scheme: impl Fn() -> Scheme<C> + Send + Sync + 'static,
    ) -> Self
    where
        K: Object,
        C: CodecFor<K> + Clone,
    {
        let migration = Migrator::<K, C, _> {
            codec,
            scheme,
            kind: PhantomData,
        };
        self.migrations
            .insert(K::KIND.to_lowercase(), Arc::new(migration));
        self
    }

    /// The typed reader of the kind and version `type_meta`, if registered.
    pub(crate) fn typed(&self, type_meta: &TypeMeta) -> Option<&dyn TypedKind> {
        self.typed.get(type_meta).map(|typed| &**typed)
    }

    /// The migration of the kind named `kind` (any case), if registered.
    pub(crate) fn migration_of(&self, kind: &str) -> Option<&dyn Migration> {
        self.migrations
            .get(&kind.to_lowercase())
            .map(|migration| &**migration)
    }
}

/// A kind read and written through its Rust type.
pub(crate) trait TypedKind: Send + Sync {
    /// The stored (opened) bytes, decoded with the kind's codec, as an untyped object.
    fn decode(&self, bytes: &[u8]) -> Result<UntypedObject, CodecError>;
    /// The object, checked by the kind's type and encoded with its codec.
    fn encode(&self, object: &UntypedObject) -> Result<Vec<u8>, CodecError>;
}

struct Typed<K, C> {
    codec: C,
    kind: PhantomData<fn() -> K>,
}

impl<K, C> TypedKind for Typed<K, C>
where
    K: Object + Serialize + DeserializeOwned,
    C: CodecFor<K>,
{
    fn decode(&self, bytes: &[u8]) -> Result<UntypedObject, CodecError> {
        let object: K = self.codec.decode(bytes)?;
        let mut document =
            serde_json::to_value(&object).map_err(|e| CodecError::malformed(K::KIND, e))?;
        if let Value::Object(fields) = &mut document {
            fields.insert("apiVersion".into(), K::API_VERSION.into());
            fields.insert("kind".into(), K::KIND.into());
        }
        UntypedObject::from_json(document)
    }

    fn encode(&self, object: &UntypedObject) -> Result<Vec<u8>, CodecError> {
        let invalid = |e: serde_json::Error| CodecError::Encode {
            format: self.codec.format(),
            source: format!("not a valid {}: {e}", K::type_meta()).into(),
        };
        let mut document = serde_json::to_value(object).map_err(invalid)?;
        if let Value::Object(fields) = &mut document {
            fields.remove("apiVersion");
            fields.remove("kind");
        }
        let typed: K = serde_json::from_value(document).map_err(invalid)?;
        self.codec.encode(&typed)
    }
}

/// The storage-version migration of a kind.
pub(crate) trait Migration: Send + Sync {
    /// Migrates the collection under `prefix` (in `namespace`, or all) of the store at `url`,
    /// calling `progress` after every page.
    fn migrate<'a>(
        &'a self,
        url: &'a str,
        prefix: &'a str,
        namespace: Option<&'a str>,
        options: &'a MigrateOptions,
        progress: &'a (dyn Fn(&MigrationProgress) + Send + Sync),
    ) -> BoxFuture<'a, kvstore::Result<MigrationProgress>>;
}

struct Migrator<K, C, S> {
    codec: C,
    scheme: S,
    kind: PhantomData<fn() -> K>,
}

impl<K, C, S> Migration for Migrator<K, C, S>
where
    K: Object,
    C: CodecFor<K> + Clone,
    S: Fn() -> Scheme<C> + Send + Sync,
{
    fn migrate<'a>(
        &'a self,
        url: &'a str,
        prefix: &'a str,
        namespace: Option<&'a str>,
        options: &'a MigrateOptions,
        progress: &'a (dyn Fn(&MigrationProgress) + Send + Sync),
    ) -> BoxFuture<'a, kvstore::Result<MigrationProgress>> {
        Box::pin(async move {
            let store = kvstore::connect_with(url, self.codec.clone())
                .await?
                .with_scheme((self.scheme)());
            let mut objects = store.collection::<K>(prefix)?;
            if let Some(namespace) = namespace {
                objects = objects.namespaced(namespace)?;
            }
            let done = objects
                .migrate(options, |page| {
                    progress(page);
                    ControlFlow::Continue(())
                })
                .await;
            store.close().await;
            done
        })
    }
}
