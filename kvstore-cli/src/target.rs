//! Where a command's objects are: the store of `--store`, and a kind's collection in it, found
//! by the rule a service's [`Store::default_collection`](kvstore::Store::default_collection)
//! uses.

use kvstore::encryption::KeyRing;
use kvstore::{Collection, Store, StoreConfig};
use kvstore_codec::untyped::{Untyped, UntypedObject};

use crate::args::Kind;
use crate::codec::CliCodec;
use crate::error::{CliError, CliResult};
use crate::kinds::Kinds;

/// The store and keys a command was given.
pub(crate) struct Session {
    url: Option<String>,
    ring: Option<KeyRing>,
    kinds: Kinds,
}

/// The objects of one kind, as the command line reads them.
pub(crate) type Objects = Collection<UntypedObject, CliCodec>;

impl Session {
    pub(crate) fn new(url: Option<String>, ring: Option<KeyRing>, kinds: Kinds) -> Self {
        Session { url, ring, kinds }
    }

    /// The kinds the command line was built with.
    pub(crate) fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// The codec for values of every kind, or of the kind `kind`; encrypted if there are keys.
    pub(crate) fn codec(&self, kind: Option<&str>) -> CliCodec {
        let untyped = kind.map_or_else(Untyped::any, Untyped::of_kind);
        CliCodec::new(untyped, self.ring.as_ref(), &self.kinds)
    }

    /// The key ring of `--encryption-key`, if any.
    pub(crate) fn ring(&self) -> Option<&KeyRing> {
        self.ring.as_ref()
    }

    /// The store's URL; an error saying how to give one when there is none.
    pub(crate) fn url(&self) -> CliResult<&str> {
        self.url.as_deref().ok_or_else(|| {
            CliError::Input("no store given: pass --store URL or set KVSTORE_URL".to_owned())
        })
    }

    /// The store, reading values of every kind.
    pub(crate) async fn store(&self) -> CliResult<Store<CliCodec>> {
        self.store_for(None).await
    }

    async fn store_for(&self, kind: Option<&str>) -> CliResult<Store<CliCodec>> {
        self.connect(self.codec(kind)).await
    }

    /// The store with `codec`. The URL's `codec` option is the services' choice; the command
    /// line reads every codec, so it does not hold it to that one.
    pub(crate) async fn connect<C: kvstore::Codec>(&self, codec: C) -> CliResult<Store<C>> {
        let mut config = StoreConfig::from_url(self.url()?)?;
        config.codec = None;
        Ok(kvstore::connect_config_with(&config, codec).await?)
    }

    /// The objects of `kind` (its namespace, if it names one): values of other kinds in its
    /// directory are refused as a typed collection refuses them.
    pub(crate) async fn objects(&self, kind: &Kind) -> CliResult<Objects> {
        let store = self.store_for(Some(&kind.kind)).await?;
        collection(
            &store,
            &kind.kind,
            kind.prefix.as_deref(),
            kind.namespace.as_deref(),
        )
    }
}

/// The collection of `kind` in `store`: under `prefix`, or the kind's default prefix.
pub(crate) fn collection(
    store: &Store<CliCodec>,
    kind: &str,
    prefix: Option<&str>,
    namespace: Option<&str>,
) -> CliResult<Objects> {
    let prefix = prefix.map_or_else(|| kvstore::default_prefix(kind), str::to_owned);
    let objects = store.collection::<UntypedObject>(&prefix)?;
    Ok(match namespace {
        Some(namespace) => objects.namespaced(namespace)?,
        None => objects,
    })
}
