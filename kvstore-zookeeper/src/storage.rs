//! The engine's storage in ZooKeeper: each call of the contract, on the znodes `layout` names.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use kvstore_core::backend::Capabilities;
use kvstore_core::engine::{
    Append, Appended, Commit, Head, Snapshot, Storage, StoredLease, Touched,
};
use kvstore_core::{LeaseId, Result};
use tracing::Instrument;

use crate::inner::Inner;
use crate::snapshot::{self, Target};
use crate::{append, compact, heads, leases, log};

/// The engine's storage of a [`ZooKeeperBackend`](crate::ZooKeeperBackend): keys, the log of
/// commits and leases in znodes under the store's root.
pub struct ZooKeeperStorage {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ZooKeeperStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeperStorage")
            .field("endpoints", &self.inner.config.endpoints)
            .field("root", &self.inner.layout.root())
            .finish_non_exhaustive()
    }
}

macro_rules! traced {
    ($name:literal, $body:expr) => {
        $body.instrument(tracing::debug_span!($name, backend = "zookeeper"))
    };
}

impl Storage for ZooKeeperStorage {
    fn name(&self) -> &'static str {
        "zookeeper"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::basic().with_auth().with_tls()
    }

    async fn head(&self) -> Result<Head> {
        traced!("zk.head", log::head(&self.inner)).await
    }

    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        let read = snapshot::read(&self.inner, Target::Keys(keys), 0);
        Ok(traced!("zk.get", read).await?.unwrap_or_default())
    }

    fn reads_may_be_stale(&self) -> bool {
        true
    }

    /// A new key's record is created in the `multi`, which fails if it exists.
    fn verifies_presumed_absence(&self) -> bool {
        true
    }

    /// Without the `sync`: the server answers from what it has applied (a follower may lag
    /// the leader; this session's own writes are always seen).
    async fn get_possibly_stale(&self, keys: &[String]) -> Result<Snapshot> {
        let read = snapshot::read(&self.inner, Target::KeysUnsynced(keys), 0);
        Ok(traced!("zk.get_possibly_stale", read)
            .await?
            .unwrap_or_default())
    }

    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        let read = snapshot::read(&self.inner, Target::Range(start, end), limit);
        Ok(traced!("zk.range", read).await?.unwrap_or_default())
    }

    async fn append(&self, append: &Append) -> Result<Appended> {
        traced!("zk.append", append::append(&self.inner, append)).await
    }

    async fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        traced!("zk.log", log::commits(&self.inner, from, to)).await
    }

    fn head_changes(&self) -> BoxStream<'static, u64> {
        heads::changes(&self.inner)
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        traced!("zk.compact", compact::compact(&self.inner, revision)).await
    }

    async fn create_lease(&self, ttl: Duration) -> Result<StoredLease> {
        traced!("zk.create_lease", leases::create(&self.inner, ttl)).await
    }

    async fn touch_lease(&self, id: LeaseId) -> Result<Option<Touched>> {
        traced!("zk.touch_lease", leases::touch(&self.inner, id)).await
    }

    async fn leases(&self) -> Result<Vec<StoredLease>> {
        traced!("zk.leases", leases::list(&self.inner)).await
    }

    async fn lease_keys(&self, id: LeaseId) -> Result<Option<Snapshot>> {
        let read = snapshot::read(&self.inner, Target::Lease(id.0), 0);
        traced!("zk.lease_keys", read).await
    }

    async fn now(&self) -> Result<Duration> {
        traced!("zk.now", leases::now(&self.inner)).await
    }
}
