//! Consistent reads from a cache (the idea of Kubernetes KEP-2340): learn the store's current
//! revision with one cheap request, shared by the reads that began while the previous one was
//! under way; wait until the cache has applied that revision, which a quiet prefix reaches
//! through a progress request to its watch (a bookmark); then answer from memory. A store that
//! cannot answer progress requests, or a cache that does not catch up in time, is read
//! directly instead: a consistent read is never stale, only sometimes slower.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::error::{Error, Result};

/// How long a consistent read waits for the cache to catch up before it reads the store.
pub(crate) const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(3);

/// Learns the store's current revision, one request for every group of readers that arrive
/// while the previous request is under way. A reader never uses a request that began before
/// it did, so the revision it gets is at least that of every write acknowledged before it
/// asked.
pub(crate) struct RevisionProbe {
    backend: Arc<dyn Backend>,
    state: Mutex<ProbeState>,
}

#[derive(Default)]
struct ProbeState {
    /// Whether a task is probing.
    running: bool,
    /// Readers waiting for the next probe.
    waiting: Vec<oneshot::Sender<Result<u64>>>,
}

impl RevisionProbe {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Arc<Self> {
        Arc::new(RevisionProbe {
            backend,
            state: Mutex::new(ProbeState::default()),
        })
    }

    /// The store's revision, read after this call began.
    pub(crate) async fn current_revision(self: &Arc<Self>) -> Result<u64> {
        let (answer, receiver) = oneshot::channel();
        let start = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.waiting.push(answer);
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).run());
        }
        receiver.await.unwrap_or_else(|_| {
            Err(Error::Closed {
                what: "the cache's revision probe".to_owned(),
            })
        })
    }

    /// Probes for each group of waiting readers in turn, until none waits.
    async fn run(self: Arc<Self>) {
        loop {
            let group = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.waiting.is_empty() {
                    state.running = false;
                    return;
                }
                std::mem::take(&mut state.waiting)
            };
            let revision = self.backend.current_revision().await;
            for reader in group {
                let _ = reader.send(copy(&revision));
            }
        }
    }
}

/// Each reader's copy of the probe's answer.
fn copy(revision: &Result<u64>) -> Result<u64> {
    match revision {
        Ok(revision) => Ok(*revision),
        Err(Error::Closed { what }) => Err(Error::Closed { what: what.clone() }),
        Err(Error::PermissionDenied { message }) => Err(Error::PermissionDenied {
            message: message.clone(),
        }),
        Err(Error::Unauthenticated { message }) => Err(Error::Unauthenticated {
            message: message.clone(),
        }),
        Err(err @ Error::Unavailable { .. }) => Err(Error::Unavailable {
            message: err.to_string(),
            source: None,
        }),
        Err(err) => Err(Error::Backend {
            message: err.to_string(),
            source: None,
        }),
    }
}

/// Where a consistent read is answered from.
pub(crate) enum Source {
    /// The cache has applied every write acknowledged before the read began.
    Cache,
    /// The store, read directly.
    Store,
}
