//! Learning the heads other clients write: one task per storage, started when the engine first
//! asks for them (its first watch stream; before, nobody needs them, and every write would
//! cost a notification and a read), keeps a persistent ZooKeeper watch on `head` and reads it
//! after every notification and every reconnection (notifications can be lost while
//! disconnected, ZOOKEEPER-4698), plus every few seconds as a safety net; the engine hears
//! each new head ([`Storage::head_changes`]).
//!
//! [`Storage::head_changes`]: kvstore_core::engine::Storage::head_changes

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use zookeeper_client as zk;

use crate::inner::Inner;
use crate::log;
use crate::records::decode_counter;

/// The head is read this often even without a notification.
const HEAD_POLL: Duration = Duration::from_secs(5);

/// The heads `inner` learns, as a stream that ends with the storage; starts the task that
/// watches `head` if it does not run yet.
pub(crate) fn changes(inner: &Arc<Inner>) -> BoxStream<'static, u64> {
    if !inner
        .head_watcher
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        spawn_watcher(inner);
    }
    let heads = inner.heads.subscribe();
    stream::unfold(heads, |mut heads| async move {
        heads.changed().await.ok()?;
        let head = *heads.borrow_and_update();
        Some((head, heads))
    })
    .boxed()
}

/// Starts the task that learns the head revision; it ends when the storage is dropped.
fn spawn_watcher(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            let Some(inner) = Weak::upgrade(&weak) else {
                return;
            };
            let client = inner.conn.client();
            let path = inner.layout.head();
            let watcher = inner
                .conn
                .call(
                    "watching the head revision",
                    client.watch(&path, zk::AddWatchMode::Persistent),
                )
                .await;
            drop(inner);
            match watcher {
                Ok(watcher) => follow(&weak, watcher).await,
                Err(err) => {
                    tracing::debug!(%err, "zookeeper: cannot watch the head revision");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
}

/// Publishes the head after every notification of `watcher`, until its session ends.
async fn follow(weak: &Weak<Inner>, mut watcher: zk::PersistentWatcher) {
    loop {
        if let Some(inner) = Weak::upgrade(weak) {
            publish_head(&inner).await;
        } else {
            return;
        }
        let event = tokio::select! {
            event = watcher.changed() => Some(event),
            () = tokio::time::sleep(HEAD_POLL) => None,
        };
        if let Some(event) = event {
            if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
                // The session is over (the watcher must not be asked again): a new one is
                // opened by the next failing request, then watched again.
                if let Some(inner) = Weak::upgrade(weak) {
                    let _ = log::head(&inner).await;
                }
                return;
            }
        }
    }
}

async fn publish_head(inner: &Inner) {
    let client = inner.conn.client();
    let path = inner.layout.head();
    match inner
        .conn
        .call("reading the head revision", client.get_data(&path))
        .await
    {
        Ok((data, _)) => match decode_counter(&path, &data) {
            Ok(head) => inner.learn_head(head),
            Err(err) => tracing::warn!(%err, "zookeeper: unreadable head revision"),
        },
        Err(err) => tracing::debug!(%err, "zookeeper: reading the head revision failed"),
    }
}
