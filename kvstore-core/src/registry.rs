//! The backends a [`StoreConfig`] can name, by scheme (cerana's `Register`): `kvstore` registers
//! its own (`memory`, and `etcd` with its feature); a third-party backend registers its scheme
//! with [`register`] before the application connects.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use futures::future::BoxFuture;

use crate::backend::Backend;
use crate::config::StoreConfig;
use crate::error::Result;

/// Builds a backend from a configuration (whose `backend` is the factory's scheme).
pub type Factory =
    Arc<dyn Fn(StoreConfig) -> BoxFuture<'static, Result<Arc<dyn Backend>>> + Send + Sync>;

static FACTORIES: RwLock<BTreeMap<String, Factory>> = RwLock::new(BTreeMap::new());

/// Registers `factory` for URLs and configurations naming `scheme` (replacing an earlier
/// registration of the same scheme).
pub fn register<F>(scheme: &str, factory: F)
where
    F: Fn(StoreConfig) -> BoxFuture<'static, Result<Arc<dyn Backend>>> + Send + Sync + 'static,
{
    FACTORIES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(scheme.to_ascii_lowercase(), Arc::new(factory));
}

/// The factory registered for `scheme`.
pub fn factory(scheme: &str) -> Option<Factory> {
    FACTORIES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&scheme.to_ascii_lowercase())
        .cloned()
}

/// The registered schemes, sorted.
pub fn schemes() -> Vec<String> {
    FACTORIES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .keys()
        .cloned()
        .collect()
}
