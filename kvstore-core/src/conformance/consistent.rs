//! Consistent reads from a cache, and bookmarks: what a store that can give bookmarks
//! ([`Store::request_bookmarks`]) must do, and what every store must do regardless.

use std::time::Duration;

use futures::StreamExt;

use super::faults::Partition;
use super::{next_event, synced_cache, unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::cache::Cache;
use crate::resource_version::ResourceVersion;
use crate::store::{Store, WatchEvent, WatchFrom, WatchOptions};
use crate::watcher::{Watcher, WatcherConfig, WatcherEvent};

/// The resource version of a stored object.
fn rv(widget: &Widget) -> u64 {
    widget
        .metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("a stored object has a resource version")
}

/// Whether the store gives bookmarks on request.
async fn gives_bookmarks<C: TestCodec>(store: &Store<C>) -> bool {
    match store.request_bookmarks().await {
        Ok(()) => true,
        Err(err) if err.is_unsupported() => false,
        Err(err) => panic!("a bookmark request failed: {err}"),
    }
}

/// Writes `n` objects under a prefix of their own, away from the caller's; returns the last
/// resource version.
async fn write_elsewhere<C: TestCodec>(store: &Store<C>, n: usize) -> u64 {
    let elsewhere = unique_prefix();
    let mut last = 0;
    for i in 0..n {
        let written = store
            .create(&format!("{elsewhere}/x{i}"), &widget("x", "grey"))
            .await
            .unwrap();
        last = rv(&written);
    }
    last
}

/// Many rounds of "write, then read from another task at once": every consistent read sees
/// the write, though the cache's watch may not have delivered it yet.
pub async fn consistent_cache_reads_see_every_acknowledged_write<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let cache = Cache::<Widget>::new(&store, &prefix).unwrap();
    consistent_reads_see_writes(&store, &cache, &prefix).await;
}

/// The rounds of [`consistent_cache_reads_see_every_acknowledged_write`] on `cache`, a cache of
/// the empty `prefix` (for backend tests that prepare the cache first).
#[doc(hidden)]
pub async fn consistent_reads_see_writes<C: TestCodec>(
    store: &Store<C>,
    cache: &Cache<Widget>,
    prefix: &str,
) {
    let counter = format!("{prefix}/counter");
    let mut current = store
        .create(&counter, &widget("counter", "red"))
        .await
        .unwrap();
    for round in 1..=40u64 {
        current.count = round;
        current = store.update(&counter, &current).await.unwrap();
        let added = store
            .create(&format!("{prefix}/n{round:02}"), &widget("n", "blue"))
            .await
            .unwrap();
        if round % 5 == 0 {
            write_elsewhere(store, 1).await;
        }
        let reader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                let got = cache.consistent_get("counter").await.unwrap();
                let listed = cache.consistent_list().await.unwrap();
                (got, listed)
            })
        };
        let (got, listed) = tokio::time::timeout(EVENT_TIMEOUT, reader)
            .await
            .expect("a consistent read answers")
            .unwrap();
        let got = got.unwrap_or_else(|| panic!("round {round}: a stale read, no counter"));
        assert_eq!(got.count, round, "round {round}: a stale read");
        assert!(rv(&got) >= rv(&current));
        assert_eq!(listed.len(), 1 + round as usize, "round {round}");
        assert!(listed.iter().any(|w| rv(w) == rv(&added)));
    }
    let everything = crate::selector::LabelSelector::everything();
    let by = cache.consistent_list_by(&everything).await.unwrap();
    assert_eq!(by.len(), 41);
    assert!(cache.consistent_get("absent").await.unwrap().is_none());
}

/// A consistent read of a prefix nothing writes to answers without waiting for a change under
/// it; on a store that gives bookmarks the cache itself reaches a revision written elsewhere.
pub async fn consistent_read_of_a_quiet_prefix_answers_promptly<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let only = store
        .create(&format!("{prefix}/only"), &widget("only", "red"))
        .await
        .unwrap();
    let cache = synced_cache(&store, &prefix).await;
    let elsewhere = write_elsewhere(&store, 5).await;

    let listed = tokio::time::timeout(EVENT_TIMEOUT, cache.consistent_list())
        .await
        .expect("a consistent read of a quiet prefix answers")
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(rv(&listed[0]), rv(&only));

    if gives_bookmarks(&store).await {
        tokio::time::timeout(
            EVENT_TIMEOUT,
            cache.wait_for(ResourceVersion::new(elsewhere).unwrap()),
        )
        .await
        .expect("the cache reaches a revision written outside its prefix")
        .unwrap();
        assert!(cache.resource_version().revision() >= elsewhere);
    } else {
        // Without bookmarks the next change under the prefix gets it there.
        let waiting = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .wait_for(ResourceVersion::new(elsewhere).unwrap())
                    .await
            })
        };
        store
            .create(&format!("{prefix}/next"), &widget("next", "red"))
            .await
            .unwrap();
        tokio::time::timeout(EVENT_TIMEOUT, waiting)
            .await
            .expect("the next change releases the wait")
            .unwrap()
            .unwrap();
    }
}

/// A watch with bookmarks, asked for one, sends a bookmark at least as new as the store was,
/// after every change up to it; without `bookmarks` it sends none.
pub async fn watch_bookmarks_follow_the_changes_they_cover<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let options = WatchOptions {
        from: WatchFrom::Now,
        bookmarks: true,
        ..WatchOptions::default()
    };
    let mut marked = store
        .watch_prefix_with::<Widget>(&prefix, &options)
        .await
        .unwrap();
    let mut plain = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    let a = store
        .create(&format!("{prefix}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let elsewhere = write_elsewhere(&store, 3).await;
    if !gives_bookmarks(&store).await {
        assert!(matches!(
            next_event(&mut marked).await,
            WatchEvent::Added(_)
        ));
        return;
    }
    assert!(matches!(next_event(&mut marked).await, WatchEvent::Added(w) if rv(&w) == rv(&a)));
    // Other watches of the store may answer earlier requests first: skip older bookmarks.
    loop {
        match next_event(&mut marked).await {
            WatchEvent::Bookmark(resource_version) => {
                if resource_version.revision() >= elsewhere {
                    break;
                }
            }
            other => panic!("expected a bookmark, got {other:?}"),
        }
    }
    let b = store
        .create(&format!("{prefix}/b"), &widget("b", "red"))
        .await
        .unwrap();
    assert!(matches!(next_event(&mut marked).await, WatchEvent::Added(w) if rv(&w) == rv(&b)));
    // The plain watch saw the two changes and nothing else.
    assert!(matches!(next_event(&mut plain).await, WatchEvent::Added(w) if rv(&w) == rv(&a)));
    assert!(matches!(next_event(&mut plain).await, WatchEvent::Added(w) if rv(&w) == rv(&b)));
}

/// A watcher on a prefix nothing writes to keeps its resume point fresh with bookmarks, so
/// when its watch breaks after the history was compacted it resumes without listing again.
pub async fn quiet_watcher_resumes_past_compaction_without_relisting<C: TestCodec>(
    store: Store<C>,
) {
    if !gives_bookmarks(&store).await {
        // Such a store's watchers re-list after a compaction (see the cache cases).
        return;
    }
    let prefix = unique_prefix();
    let partition = Partition::default();
    let cut_off = partition.wrap(&store);
    let config = WatcherConfig {
        bookmark_interval: Some(Duration::from_millis(200)),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..WatcherConfig::default()
    };
    let mut watcher = Watcher::<Widget>::new(&cut_off, &prefix, config).unwrap();
    assert!(matches!(
        next_report(&mut watcher).await,
        Ok(WatcherEvent::InitialState)
    ));
    assert!(matches!(
        next_report(&mut watcher).await,
        Ok(WatcherEvent::InitialStateDone(_))
    ));
    let elsewhere = write_elsewhere(&store, 5).await;
    // The watcher's own bookmark request moves its resume point past the writes elsewhere.
    loop {
        if let Ok(WatcherEvent::Bookmark(resource_version)) = next_report(&mut watcher).await {
            if resource_version.revision() >= elsewhere {
                break;
            }
        }
    }
    partition.cut();
    let compacted = store.current_resource_version().await.unwrap();
    store.compact(compacted).await.unwrap();
    partition.heal();
    let created = store
        .create(&format!("{prefix}/a"), &widget("a", "red"))
        .await
        .unwrap();
    loop {
        match next_report(&mut watcher).await {
            Ok(WatcherEvent::Added { object, .. }) => {
                assert_eq!(rv(&object), rv(&created));
                break;
            }
            Ok(WatcherEvent::InitialState) => panic!("the watcher listed again"),
            Ok(_) | Err(_) => {} // the cut, retries, bookmarks
        }
    }
}

/// The watcher's next report (bounded).
async fn next_report(watcher: &mut Watcher<Widget>) -> crate::Result<WatcherEvent<Widget>> {
    tokio::time::timeout(EVENT_TIMEOUT, watcher.next())
        .await
        .expect("the watcher reports")
        .expect("it goes on")
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_consistent_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            consistent_cache_reads_see_every_acknowledged_write: Shared,
            consistent_read_of_a_quiet_prefix_answers_promptly: Shared,
            watch_bookmarks_follow_the_changes_they_cover: Shared,
            quiet_watcher_resumes_past_compaction_without_relisting: Exclusive,
        }
    };
}
