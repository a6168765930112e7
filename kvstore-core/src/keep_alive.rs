//! [`KeepAlive`]: keeps a lease alive in the background and says when it is lost.
//!
//! Built once on the backend contract's one-shot `lease_keep_alive`, so it behaves the same on
//! every backend. It renews every third of the TTL; when renewals fail (store unreachable) it
//! keeps trying, and declares the lease lost as soon as the last successful renewal's TTL has
//! run out *measured from before that renewal was sent*, less a safety margin of a tenth of the
//! TTL (at most a second) for clock-rate differences — always before the server can have
//! expired it. A lease the store reports gone is lost at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backend::{Backend, Lease, LeaseId};
use crate::error::Error;

/// The state of a kept-alive lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Renewed in time so far.
    Alive,
    /// Lost: expired, revoked, or not renewed in time; keys attached to it are (or soon will be)
    /// gone. The reason is a human-readable message.
    Lost(String),
}

/// Keeps a lease alive until dropped (or [`KeepAlive::stop`]ped). Cheap to query.
#[derive(Debug)]
pub struct KeepAlive {
    lease: Lease,
    state: watch::Receiver<LeaseState>,
    task: JoinHandle<()>,
}

impl KeepAlive {
    /// Starts keeping `lease` alive on `backend`. Must be called within a tokio runtime.
    pub fn start(backend: Arc<dyn Backend>, lease: Lease) -> Self {
        let (tx, state) = watch::channel(LeaseState::Alive);
        let task = tokio::spawn(renew(backend, lease, tx));
        KeepAlive { lease, state, task }
    }

    /// The lease.
    pub fn lease(&self) -> Lease {
        self.lease
    }

    /// The lease id.
    pub fn id(&self) -> LeaseId {
        self.lease.id
    }

    /// The current state.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// Whether the lease is still believed alive.
    pub fn is_alive(&self) -> bool {
        *self.state.borrow() == LeaseState::Alive
    }

    /// Waits until the lease is lost, returning why.
    pub async fn lost(&self) -> String {
        let mut state = self.state.clone();
        loop {
            if let LeaseState::Lost(reason) = &*state.borrow_and_update() {
                return reason.clone();
            }
            if state.changed().await.is_err() {
                return "keep-alive stopped".to_owned();
            }
        }
    }

    /// A receiver of state changes, for `select!` loops.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Stops renewing (the lease then expires on its own unless revoked).
    pub fn stop(self) {}
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Pause between attempts while renewals fail.
const RETRY: Duration = Duration::from_millis(200);

async fn renew(backend: Arc<dyn Backend>, lease: Lease, state: watch::Sender<LeaseState>) {
    // The lease was granted no earlier than now: its server-side deadline is at least now + ttl.
    let margin = (lease.ttl / 10).min(Duration::from_secs(1));
    let mut deadline = Instant::now() + lease.ttl - margin;
    let period = (lease.ttl / 3).max(Duration::from_millis(100));
    let mut next = Instant::now() + period;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = tokio::time::sleep_until(deadline) => {
                let _ = state.send(LeaseState::Lost(format!(
                    "lease {} not renewed within its ttl of {:?}", lease.id, lease.ttl
                )));
                return;
            }
        }
        let sent = Instant::now();
        let attempt = tokio::time::timeout_at(deadline, backend.lease_keep_alive(lease.id)).await;
        match attempt {
            Ok(Ok(ttl)) => {
                deadline = sent + ttl.saturating_sub(margin);
                next = Instant::now() + period;
            }
            Ok(Err(Error::LeaseNotFound { .. })) => {
                let _ = state.send(LeaseState::Lost(format!(
                    "lease {} expired or was revoked",
                    lease.id
                )));
                return;
            }
            Ok(Err(err)) => {
                tracing::debug!(%err, lease = %lease.id, "lease renewal failed, retrying");
                next = Instant::now() + RETRY;
            }
            Err(_) => next = Instant::now(),
        }
    }
}
