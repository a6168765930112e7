//! [`Observer`]: follows who leads an election without standing in it (etcd's
//! `Election.Observe`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::backend::Backend;
use crate::backoff::Backoff;
use crate::coordination::queue::Follower;
use crate::error::{Error, Result};

/// A follower of an election's leader, from [`Election::observe`](super::Election::observe): a
/// [`Stream`] of the leader's id each time it changes (`None` while nobody leads), and errors,
/// after which it goes on following. It ends when the store is closed; dropping it stops it.
pub struct Observer {
    name: String,
    leader: watch::Receiver<Option<String>>,
    changes: mpsc::UnboundedReceiver<Result<Option<String>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("name", &self.name)
            .field("leader", &*self.leader.borrow())
            .finish()
    }
}

impl Observer {
    pub(super) fn start(backend: Arc<dyn Backend>, name: &str) -> Observer {
        let (leader_tx, leader) = watch::channel(None);
        let (changes_tx, changes) = mpsc::unbounded_channel();
        let task = tokio::spawn(follow(backend, name.to_owned(), leader_tx, changes_tx));
        Observer {
            name: name.to_owned(),
            leader,
            changes,
            task,
        }
    }

    /// The election's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the contender leading, as last seen.
    pub fn leader(&self) -> Option<String> {
        self.leader.borrow().clone()
    }
}

impl Stream for Observer {
    type Item = Result<Option<String>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.changes.poll_recv(cx)
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// First pause after a failed store call.
const RETRY: Duration = Duration::from_millis(200);
/// Longest pause between retries.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Follows the queue of election `name`, telling of each change of its head.
async fn follow(
    backend: Arc<dyn Backend>,
    name: String,
    leader: watch::Sender<Option<String>>,
    changes: mpsc::UnboundedSender<Result<Option<String>>>,
) {
    let mut backoff = Backoff::new(RETRY, MAX_RETRY);
    // The current leader is told first, then each change.
    let mut first = true;
    loop {
        let failure = match Follower::start(&backend, &name).await {
            Err(err) => err,
            Ok(mut follower) => {
                backoff.reset();
                loop {
                    let head = follower.head().map(|(_, _, id)| id.to_owned());
                    if first || *leader.borrow() != head {
                        first = false;
                        leader.send_replace(head.clone());
                        if changes.send(Ok(head)).is_err() {
                            return;
                        }
                    }
                    match follower.next().await {
                        Some(Ok(_)) => {}
                        Some(Err(err)) => break err,
                        None => {
                            break Error::Unavailable {
                                message: format!("the watch of election {name} ended"),
                                source: None,
                            }
                        }
                    }
                }
            }
        };
        if failure.is_closed() {
            return;
        }
        tracing::debug!(err = %failure, election = %name, "observing the election failed, retrying");
        if changes.send(Err(failure)).is_err() {
            return;
        }
        tokio::time::sleep(backoff.next_pause()).await;
    }
}
