//! Closing a store.

use futures::StreamExt;

use super::leases::TTL;
use super::{keys_under, next_event, unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::cache::Cache;
use crate::coordination::{ElectionEvent, Ephemeral, LeaseLoss, Lock};
use crate::store::{ListOptions, Store, WatchEvent, WatchFrom};
use crate::watcher::{Watcher, WatcherConfig};

/// Closing a store revokes the leases its sessions keep alive (ephemeral objects, locks and
/// election entries go at once, not a TTL later), ends its watches, watchers, caches and
/// elections, and makes every later call a Closed error; closing twice is harmless.
pub async fn close_ends_background_work<C: TestCodec>(store: Store<C>) {
    let observer = store.reopened();
    let p = unique_prefix();
    // Objects under `objects`; the lock's and the election's entries (not objects) elsewhere.
    let objects = format!("{p}/objects");
    let node = Ephemeral::new(&store, &format!("{objects}/node"), TTL)
        .await
        .unwrap();
    node.set(&widget("node", "red")).await.unwrap();
    let guard = Lock::new(&store, &format!("{p}/lock"), TTL)
        .unwrap()
        .acquire()
        .await
        .unwrap();
    let mut election = store
        .contest(&format!("{p}/election"), "a", TTL)
        .await
        .unwrap();
    assert!(matches!(
        tokio::time::timeout(EVENT_TIMEOUT, election.next())
            .await
            .unwrap(),
        Some(Ok(ElectionEvent::Elected { .. }))
    ));
    let mut watch = store
        .watch_prefix::<Widget>(&objects, WatchFrom::Now)
        .await
        .unwrap();
    let mut watcher = Watcher::<Widget>::new(&store, &objects, WatcherConfig::default()).unwrap();
    let cache = Cache::<Widget>::new(&store, &objects).unwrap();
    cache.wait_until_synced().await;
    let mut cache_events = cache.events();
    let mut observed = observer
        .watch::<Widget>(&format!("{objects}/node"), WatchFrom::Now)
        .await
        .unwrap();

    store.close().await;
    assert!(store.is_closed() && !observer.is_closed());

    // The ephemeral object went with its lease, at once; so did the lock and election entries.
    assert!(matches!(
        next_event(&mut observed).await,
        WatchEvent::Deleted(_)
    ));
    assert_eq!(keys_under(&observer, &p).await, 0);
    assert_eq!(
        tokio::time::timeout(EVENT_TIMEOUT, node.lost())
            .await
            .unwrap(),
        LeaseLoss::StoreClosed
    );
    assert!(!guard.is_held());

    // Every later call is Closed, and not retryable.
    let err = store
        .get::<Widget>(&format!("{objects}/node"))
        .await
        .unwrap_err();
    assert!(err.is_closed() && !err.is_retryable(), "{err}");
    let err = store
        .create(&format!("{objects}/x"), &widget("x", "red"))
        .await
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
    let err = store
        .list::<Widget>(&objects, &ListOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(store.health().await.unwrap_err().is_closed());

    // Streams end: the watch and the watcher after a Closed item (what happened before it
    // may still come first), the election and the cache's events; the cache says it is closed.
    ends_closed(&mut watch).await;
    ends_closed(&mut watcher).await;
    // The election reports losing the lead, then ends.
    while tokio::time::timeout(EVENT_TIMEOUT, election.next())
        .await
        .unwrap()
        .is_some()
    {}
    assert!(tokio::time::timeout(
        EVENT_TIMEOUT,
        cache.wait_for(crate::ResourceVersion::new(999_999_999).unwrap())
    )
    .await
    .unwrap()
    .unwrap_err()
    .is_closed());
    // The events queued before the end still come, then the stream ends.
    while tokio::time::timeout(EVENT_TIMEOUT, cache_events.next())
        .await
        .unwrap()
        .is_some()
    {}

    store.close().await;
    assert!(
        observer.health().await.is_ok(),
        "closing one store leaves others open"
    );
}

/// Reads `stream` until its Closed item, then checks that it ends.
async fn ends_closed<T>(stream: &mut (impl futures::Stream<Item = crate::Result<T>> + Unpin)) {
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, stream.next())
            .await
            .unwrap()
        {
            Some(Err(err)) if err.is_closed() => break,
            Some(_) => continue,
            None => panic!("the stream ended without saying why"),
        }
    }
    let after = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
        .await
        .unwrap();
    assert!(after.is_none(), "the stream ends after Closed");
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_close_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            close_ends_background_work: Shared,
        }
    };
}
