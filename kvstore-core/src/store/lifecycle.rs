//! A store's life: open until [`Store::close`](super::Store::close), which revokes the leases
//! its sessions keep alive and ends its watches; every later call is [`Error::Closed`].

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use tokio::sync::watch;

use super::head::Head;
use crate::backend::{
    Backend, Capabilities, EventStream, RangeRequest, RangeResponse, Txn, TxnResponse, WatchItem,
    WatchRequest,
};
use crate::error::{Error, Result};
use crate::lease::{Lease, LeaseId, LeaseInfo};

/// Whether the store is closed, and the leases its sessions keep alive.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    closed: watch::Sender<bool>,
    sessions: Mutex<BTreeSet<LeaseId>>,
}

impl Lifecycle {
    pub(crate) fn new() -> Arc<Lifecycle> {
        Arc::new(Lifecycle {
            closed: watch::Sender::new(false),
            sessions: Mutex::new(BTreeSet::new()),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves once the store is closed.
    pub(crate) async fn closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
    }

    /// A session keeps `lease` alive from now on (until [`Lifecycle::forget`]).
    pub(crate) fn keep(&self, lease: LeaseId) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(lease);
    }

    /// No session keeps `lease` alive any more.
    pub(crate) fn forget(&self, lease: LeaseId) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&lease);
    }

    /// Closes the store: later calls fail, watches end, and the leases sessions keep alive are
    /// revoked through `backend` (the store's own, not the closed view of it).
    pub(crate) async fn close(&self, backend: &dyn Backend) {
        // The leases are taken before anything learns of the close: a session that ends when
        // it does (an election whose watch reports the close) forgets its lease, and a lease
        // forgotten first would never be revoked.
        let mut leases = self.take_sessions();
        self.closed.send_replace(true);
        // A session started while closing registers its lease late: revoke those too.
        while !leases.is_empty() {
            for lease in leases {
                if let Err(err) = backend.lease_revoke(lease).await {
                    if !err.is_lease_not_found() {
                        tracing::warn!(%err, %lease, "closing the store: could not revoke a session's lease");
                    }
                }
            }
            leases = self.take_sessions();
        }
    }

    fn take_sessions(&self) -> BTreeSet<LeaseId> {
        std::mem::take(&mut *self.sessions.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn check(&self) -> Result<()> {
        match self.is_closed() {
            false => Ok(()),
            true => Err(closed()),
        }
    }
}

/// What a store does when it is closed, as the runtime built on it sees it ([`Store::on_close`](super::Store::on_close)):
/// whether it was closed, a future that resolves when it is, and the leases it revokes then.
/// Sessions register their leases here, so that closing a store removes its ephemeral objects,
/// lock and election entries at once. Cheap to clone.
#[derive(Clone)]
pub struct OnClose(pub(crate) Arc<Lifecycle>);

impl std::fmt::Debug for OnClose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnClose")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl OnClose {
    /// Whether the store was closed.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Resolves once the store is closed.
    pub async fn closed(&self) {
        self.0.closed().await;
    }

    /// The store revokes `lease` when it is closed, until the returned guard is dropped.
    pub fn revoke(&self, lease: LeaseId) -> RevokeOnClose {
        self.0.keep(lease);
        RevokeOnClose {
            lifecycle: Arc::clone(&self.0),
            lease,
        }
    }
}

/// While it lives, closing the store revokes its lease ([`OnClose::revoke`]).
#[derive(Debug)]
#[must_use = "the lease is no longer revoked on close once this is dropped"]
pub struct RevokeOnClose {
    lifecycle: Arc<Lifecycle>,
    lease: LeaseId,
}

impl Drop for RevokeOnClose {
    fn drop(&mut self) {
        self.lifecycle.forget(self.lease);
    }
}

fn closed() -> Error {
    Error::Closed {
        what: "the store".to_owned(),
    }
}

/// The backend as the store's users see it: every call fails once the store is closed, and
/// watches end (with one [`Error::Closed`] item). The revisions of its answers are noted in
/// `head`.
pub(crate) struct Closable {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) head: Arc<Head>,
}

#[async_trait]
impl Backend for Closable {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.lifecycle.check()?;
        let response = self.backend.range(request).await?;
        self.head.saw(response.revision);
        Ok(response)
    }
    async fn get_possibly_stale(&self, key: &str) -> Result<RangeResponse> {
        self.lifecycle.check()?;
        let response = self.backend.get_possibly_stale(key).await?;
        self.head.saw(response.revision);
        Ok(response)
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.lifecycle.check()?;
        let response = self.backend.txn(txn).await?;
        self.head.saw(response.revision);
        Ok(response)
    }
    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        self.lifecycle.check()?;
        let events = self.backend.watch(request).await?;
        let head = Arc::clone(&self.head);
        let events = events.inspect(move |item| match item {
            Ok(WatchItem::Event(event)) => head.saw(event.kv.mod_revision),
            Ok(WatchItem::Progress(revision)) => head.saw(*revision),
            Err(_) => {}
        });
        Ok(UntilClosed {
            events: Some(events.boxed()),
            closed: Box::pin(self.lifecycle.clone().closed_owned()),
        }
        .boxed())
    }
    async fn request_progress(&self) -> Result<()> {
        self.lifecycle.check()?;
        self.backend.request_progress().await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        self.lifecycle.check()?;
        self.backend.lease_grant(ttl).await
    }
    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        self.lifecycle.check()?;
        self.backend.lease_renew(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.lifecycle.check()?;
        self.backend.lease_revoke(lease).await
    }
    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        self.lifecycle.check()?;
        self.backend.lease_info(lease).await
    }
    async fn leases(&self) -> Result<Vec<LeaseId>> {
        self.lifecycle.check()?;
        self.backend.leases().await
    }
    async fn compact(&self, revision: u64) -> Result<()> {
        self.lifecycle.check()?;
        self.backend.compact(revision).await
    }
    async fn current_revision(&self) -> Result<u64> {
        self.lifecycle.check()?;
        let revision = self.backend.current_revision().await?;
        self.head.saw(revision);
        Ok(revision)
    }
}

impl Lifecycle {
    async fn closed_owned(self: Arc<Self>) {
        self.closed().await;
    }
}

/// A watch that ends with [`Error::Closed`] when the store closes.
struct UntilClosed {
    events: Option<EventStream>,
    closed: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Stream for UntilClosed {
    type Item = Result<WatchItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(events) = self.events.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(item) = events.poll_next_unpin(cx) {
            return Poll::Ready(item);
        }
        if self.closed.as_mut().poll(cx).is_ready() {
            self.events = None;
            return Poll::Ready(Some(Err(closed())));
        }
        Poll::Pending
    }
}
