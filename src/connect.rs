//! Choosing the store at run time, from a URL or a [`StoreConfig`] (the Go libraries'
//! `NewStore("etcd", ...)`, `kv.New("etcd://...")`, `store.New(Config{Type: ...})`).

use std::sync::{Arc, Once};

use futures::FutureExt;
use kvstore_codec::{AnyCodec, Json};
use kvstore_core::backend::{Backend, Namespaced};
use kvstore_core::config::built_in;
use kvstore_core::key::validate_key;
use kvstore_core::{registry, Codec, Error, Result, Store, StoreConfig};
use kvstore_memory::MemoryBackend;

/// Connects to the store a URL names, with the JSON codec:
/// `memory://`, `memory://NAME`, `etcd://host:2379,host2:2379?namespace=/app`,
/// `etcds://...` for TLS, `zk://host:2181,host2:2181/root` for ZooKeeper, `sqlite:///path.db`
/// (feature `sqlite`, on by default), `postgres://user:password@host:5432/db` (feature
/// `postgres`) (see [`StoreConfig`] for every form and option).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = kvstore::connect("memory://").await?;
/// store.health().await?;
/// # Ok::<(), kvstore::Error>(())
/// # }).unwrap();
/// ```
pub async fn connect(url: &str) -> Result<Store<Json>> {
    connect_with(url, Json).await
}

/// [`connect`] with another codec.
pub async fn connect_with<C: Codec>(url: &str, codec: C) -> Result<Store<C>> {
    connect_config_with(&StoreConfig::from_url(url)?, codec).await
}

/// Connects to the store `config` names, with the codec it names (`json` by default).
pub async fn connect_config(config: &StoreConfig) -> Result<Store<AnyCodec>> {
    let codec = AnyCodec::named(config.codec.as_deref().unwrap_or("json"))?;
    Ok(Store::new_shared(backend(config).await?, codec))
}

/// Connects to the store `config` names with `codec`; a config naming another codec is an
/// [`Error::InvalidConfig`].
pub async fn connect_config_with<C: Codec>(config: &StoreConfig, codec: C) -> Result<Store<C>> {
    if let Some(name) = config.codec.as_deref() {
        if name != codec.format() {
            return Err(Error::InvalidConfig {
                message: format!(
                    "the configuration names the {name} codec, the caller gives {}",
                    codec.format()
                ),
            });
        }
    }
    Ok(Store::new_shared(backend(config).await?, codec))
}

/// The backend `config` names, through the [`registry`] of schemes (this crate's backends
/// are registered on first use), with every key under the config's `namespace` if it names one
/// ([`Namespaced`], the same layer for every backend: the factory sees no namespace).
pub async fn backend(config: &StoreConfig) -> Result<Arc<dyn Backend>> {
    static BUILT_IN: Once = Once::new();
    BUILT_IN.call_once(register_built_in);
    let Some(factory) = registry::factory(&config.backend) else {
        return Err(unknown_scheme(&config.backend));
    };
    if let Some(namespace) = &config.namespace {
        validate_key(namespace).map_err(|e| Error::InvalidConfig {
            message: format!("namespace: {e}"),
        })?;
    }
    let span = tracing::debug_span!("connect", store = %config);
    let unnamespaced = StoreConfig {
        namespace: None,
        ..config.clone()
    };
    let backend = tracing::Instrument::instrument(factory(unnamespaced), span).await?;
    match &config.namespace {
        Some(namespace) => Ok(Arc::new(Namespaced::new(backend, namespace)?)),
        None => Ok(backend),
    }
}

fn unknown_scheme(scheme: &str) -> Error {
    let message = match built_in(scheme).and_then(|b| Some((b.package, b.feature?))) {
        Some((package, feature)) => format!(
            "the {scheme}:// backend ({package}) is not compiled in: enable the `{feature}` feature of kvstore"
        ),
        None => format!(
            "unknown store scheme {scheme:?} (known: {})",
            registry::schemes().join(", ")
        ),
    };
    Error::InvalidConfig { message }
}

fn register_built_in() {
    registry::register("memory", |config| {
        async move { Ok(Arc::new(memory_backend(&config)?) as Arc<dyn Backend>) }.boxed()
    });
    #[cfg(feature = "etcd")]
    registry::register("etcd", |config| {
        async move {
            let etcd = kvstore_etcd::EtcdConfig::from_store_config(&config)?;
            Ok(Arc::new(kvstore_etcd::EtcdBackend::connect(etcd).await?) as Arc<dyn Backend>)
        }
        .boxed()
    });
    #[cfg(feature = "sqlite")]
    registry::register("sqlite", |config| {
        async move {
            let sqlite = kvstore_sqlite::SqliteConfig::from_store_config(&config)?;
            Ok(Arc::new(kvstore_sqlite::SqliteBackend::open(sqlite).await?) as Arc<dyn Backend>)
        }
        .boxed()
    });
    #[cfg(feature = "postgres")]
    registry::register("postgres", |config| {
        async move {
            let postgres = kvstore_postgres::PostgresConfig::from_store_config(&config)?;
            Ok(
                Arc::new(kvstore_postgres::PostgresBackend::connect(postgres).await?)
                    as Arc<dyn Backend>,
            )
        }
        .boxed()
    });
    #[cfg(feature = "zookeeper")]
    registry::register("zk", |config| {
        async move {
            let zk = kvstore_zookeeper::ZooKeeperConfig::from_store_config(&config)?;
            Ok(
                Arc::new(kvstore_zookeeper::ZooKeeperBackend::connect(zk).await?)
                    as Arc<dyn Backend>,
            )
        }
        .boxed()
    });
}

/// `memory://` is a fresh store, `memory://NAME` the store of that name in this process.
/// Timeouts are accepted (the memory backend answers at once); what a memory store cannot
/// honour is refused.
fn memory_backend(config: &StoreConfig) -> Result<MemoryBackend> {
    config.refuse_options()?;
    config.refuse_path()?;
    let refuse = |what: &str| {
        Err(Error::InvalidConfig {
            message: format!("the memory backend takes no {what}"),
        })
    };
    if config.username.is_some() || config.password.is_some() {
        return refuse("credentials");
    }
    if config.tls.is_some() {
        return refuse("TLS");
    }
    match config.endpoints.as_slice() {
        [] => Ok(MemoryBackend::new()),
        [name] => Ok(MemoryBackend::named(name)),
        _ => refuse("list of names (memory://NAME names one store)"),
    }
}
