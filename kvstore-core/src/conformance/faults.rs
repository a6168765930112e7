//! Injected faults: a backend wrapper that cuts one client off from the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::{
    Backend, EventStream, Lease, LeaseId, RangeRequest, RangeResponse, Txn, TxnResponse,
    WatchRequest,
};
use crate::error::{Error, Result};
use crate::store::Store;

/// Cuts a client off from the store, as a network partition would: while cut, every call
/// through the wrapped store fails with [`Error::Unavailable`] (watches already open keep
/// delivering). Other clients of the same backend are not affected.
#[derive(Debug, Clone, Default)]
pub struct Partition {
    cut: Arc<AtomicBool>,
}

impl Partition {
    /// A store sharing `store`'s backend through this partition.
    pub fn wrap<C: crate::Codec>(&self, store: &Store<C>) -> Store<C> {
        store.on_backend(Arc::new(Partitioned {
            inner: Arc::clone(store.backend()),
            cut: Arc::clone(&self.cut),
        }))
    }

    /// Cuts the client off.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Reconnects the client.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

struct Partitioned {
    inner: Arc<dyn Backend>,
    cut: Arc<AtomicBool>,
}

impl Partitioned {
    fn check(&self) -> Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(Error::Unavailable {
                message: "cut off from the store by a test partition".to_owned(),
                source: None,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for Partitioned {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.check()?;
        self.inner.range(request).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.check()?;
        self.inner.txn(txn).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        self.check()?;
        self.inner.watch(request).await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        self.check()?;
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration> {
        self.check()?;
        self.inner.lease_keep_alive(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.check()?;
        self.inner.lease_revoke(lease).await
    }
    async fn compact(&self, revision: u64) -> Result<()> {
        self.check()?;
        self.inner.compact(revision).await
    }
    async fn current_revision(&self) -> Result<u64> {
        self.check()?;
        self.inner.current_revision().await
    }
}
