//! Injected faults: a backend wrapper that cuts one client off from the store, or loses the
//! answers to its writes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use tokio::sync::watch;

use crate::backend::{
    Backend, Capabilities, EventStream, Lease, LeaseId, LeaseInfo, RangeRequest, RangeResponse,
    Txn, TxnResponse, WatchRequest,
};
use crate::error::{Error, Result};
use crate::store::Store;

/// Cuts a client off from the store, as a network partition would: while cut, every call
/// through the wrapped store fails with [`Error::Unavailable`], and open watches end with that
/// error. It can also lose the answer to a write, as a connection lost after sending does
/// ([`Partition::lose_next_answer`]). Other clients of the same backend are not affected.
#[derive(Debug, Clone)]
pub struct Partition {
    cut: Arc<watch::Sender<bool>>,
    /// For each of the next writes whose answer is lost: whether it is applied first.
    losses: Arc<Mutex<VecDeque<bool>>>,
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            cut: Arc::new(watch::channel(false).0),
            losses: Arc::default(),
        }
    }
}

impl Partition {
    /// A store sharing `store`'s backend through this partition.
    pub fn wrap<C: crate::Codec>(&self, store: &Store<C>) -> Store<C> {
        store.on_backend(Arc::new(Partitioned {
            inner: Arc::clone(store.backend()),
            cut: Arc::clone(&self.cut),
            losses: Arc::clone(&self.losses),
        }))
    }

    /// The next write transaction through the wrapped store gets [`Error::Ambiguous`] instead
    /// of its answer, after being `applied` (or not sent at all).
    pub fn lose_next_answer(&self, applied: bool) {
        self.losses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(applied);
    }

    /// Cuts the client off.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Reconnects the client.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

struct Partitioned {
    inner: Arc<dyn Backend>,
    cut: Arc<watch::Sender<bool>>,
    losses: Arc<Mutex<VecDeque<bool>>>,
}

fn cut_off() -> Error {
    Error::Unavailable {
        message: "cut off from the store by a test partition".to_owned(),
        source: None,
    }
}

impl Partitioned {
    fn check(&self) -> Result<()> {
        if *self.cut.borrow() {
            return Err(cut_off());
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for Partitioned {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.check()?;
        self.inner.range(request).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.check()?;
        let loss = match txn.writes() {
            true => self
                .losses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front(),
            false => None,
        };
        let Some(applied) = loss else {
            return self.inner.txn(txn).await;
        };
        if applied {
            self.inner.txn(txn).await?;
        }
        Err(Error::Ambiguous {
            message: "the answer was lost by a test partition".to_owned(),
            source: None,
        })
    }
    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        self.check()?;
        let changes = self.inner.watch(request).await?;
        let cut = self.cut.subscribe();
        let until_cut = stream::unfold(Some((changes, cut)), |state| async move {
            let (mut changes, mut cut) = state?;
            let item = tokio::select! {
                biased;
                _ = cut.wait_for(|cut| *cut) => None,
                item = changes.next() => Some(item),
            };
            match item {
                None => Some((Err(cut_off()), None)),
                Some(Some(Ok(event))) => Some((Ok(event), Some((changes, cut)))),
                Some(Some(Err(err))) => Some((Err(err), None)),
                Some(None) => None,
            }
        });
        Ok(until_cut.boxed())
    }
    async fn request_progress(&self) -> Result<()> {
        self.check()?;
        self.inner.request_progress().await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        self.check()?;
        self.inner.lease_grant(ttl).await
    }
    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        self.check()?;
        self.inner.lease_renew(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.check()?;
        self.inner.lease_revoke(lease).await
    }
    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        self.check()?;
        self.inner.lease_info(lease).await
    }
    async fn leases(&self) -> Result<Vec<LeaseId>> {
        self.check()?;
        self.inner.leases().await
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
