//! Watcher and cache.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;

use super::faults::Partition;
use super::{revision_of, synced_cache, unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::cache::{Cache, CacheEvent};
use crate::event_type::EventType;
use crate::resource_version::ResourceVersion;
use crate::selector::LabelSelector;
use crate::store::{ListOptions, Preconditions, Store};
use crate::watcher::{Watcher, WatcherConfig, WatcherEvent};

/// Retries quickly, so a healed partition is noticed at once.
fn quick_retries() -> WatcherConfig {
    WatcherConfig {
        page_size: 7,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..WatcherConfig::default()
    }
}

/// The store's objects under `prefix`, in key order.
async fn stored<C: TestCodec>(store: &Store<C>, prefix: &str) -> Vec<Widget> {
    store
        .list::<Widget>(prefix, &ListOptions::default())
        .await
        .unwrap()
        .items
}

/// The cache's objects, in name order.
fn cached(cache: &Cache<Widget>) -> Vec<Widget> {
    cache.list().iter().map(|w| Widget::clone(w)).collect()
}

/// Waits (bounded) until the cache has applied `resource_version`.
async fn caught_up(cache: &Cache<Widget>, resource_version: ResourceVersion) {
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_for(resource_version))
        .await
        .expect("the cache catches up")
        .unwrap();
}

/// One of a deterministic mix of creates, updates and deletes over 40 names; returns the
/// resource version it wrote and what it did, as a watcher reports it.
async fn mixed_write<C: TestCodec>(
    store: &Store<C>,
    prefix: &str,
    i: usize,
    live: &mut BTreeSet<String>,
) -> (ResourceVersion, &'static str, String) {
    let name = format!("w{:02}", (i * 7919) % 40);
    let key = format!("{prefix}/{name}");
    let written = if !live.contains(&name) {
        live.insert(name.clone());
        ("applied", store.create(&key, &widget(&name, "new")).await)
    } else if i % 4 == 3 {
        live.remove(&name);
        (
            "deleted",
            store
                .delete::<Widget>(&key, &Preconditions::default())
                .await,
        )
    } else {
        let mut update = widget(&name, &format!("c{i}"));
        update.count = i as u64;
        ("applied", store.update_unconditionally(&key, &update).await)
    };
    let object = written.1.unwrap();
    (rv(&object), written.0, key)
}

/// The cache converges to exactly the store's state (resource versions included) after 1,000
/// mixed writes, and a caller reads its own write after `wait_for`.
pub async fn cache_converges_after_mixed_writes<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut live = BTreeSet::new();
    for i in 0..10 {
        mixed_write(&store, &prefix, i, &mut live).await;
    }
    let cache = Cache::<Widget>::with_config(&store, &prefix, quick_retries()).unwrap();
    let mut last = ResourceVersion::ZERO;
    for i in 10..1000 {
        last = mixed_write(&store, &prefix, i, &mut live).await.0;
    }
    caught_up(&cache, last).await;
    assert_eq!(cached(&cache), stored(&store, &prefix).await);
    assert_eq!(cache.len(), live.len());
}

/// A watcher consumer sees the initial state, then each change exactly once, in order.
pub async fn watcher_delivers_each_change_once_in_order<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut live = BTreeSet::new();
    for i in 0..10 {
        mixed_write(&store, &prefix, i, &mut live).await;
    }
    let mut watcher = Watcher::<Widget>::new(&store, &prefix, WatcherConfig::default()).unwrap();
    let mut initial = Vec::new();
    let listed_at = loop {
        match next_item(&mut watcher).await {
            WatcherEvent::InitialState => initial.clear(),
            WatcherEvent::Added { object, .. } => initial.push(object),
            WatcherEvent::InitialStateDone(resource_version) => break resource_version,
            other => panic!("before the initial state is done: {other:?}"),
        }
    };
    assert_eq!(initial, stored(&store, &prefix).await);
    let mut written = Vec::new();
    for i in 10..110 {
        written.push(mixed_write(&store, &prefix, i, &mut live).await);
    }
    let mut seen = Vec::new();
    for _ in 0..written.len() {
        seen.push(match next_item(&mut watcher).await {
            WatcherEvent::Added { key, object } | WatcherEvent::Modified { key, object } => {
                (rv(&object), "applied", key)
            }
            WatcherEvent::Deleted { key, object } => (rv(&object), "deleted", key),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(seen, written);
    assert!(written[0].0 > listed_at);
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), watcher.next()).await {
        panic!("a change delivered twice or invented: {item:?}");
    }
}

/// A watcher that listed before any write — on a store that starts empty, at resource version
/// 0 — and opens its watch only after writes (it opens it when next polled) delivers every
/// change, none merged into the object as it now is.
pub async fn watcher_resumes_after_an_empty_list_with_every_change<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut watcher = Watcher::<Widget>::new(&store, &prefix, WatcherConfig::default()).unwrap();
    loop {
        match next_item(&mut watcher).await {
            WatcherEvent::InitialState => {}
            WatcherEvent::InitialStateDone(_) => break,
            other => panic!("nothing is stored yet: {other:?}"),
        }
    }
    let key = format!("{prefix}/a");
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let updated = store
        .guaranteed_update(&key, |w: &mut Widget| w.color = "blue".into())
        .await
        .unwrap();
    match next_item(&mut watcher).await {
        WatcherEvent::Added { object, .. } => assert_eq!(object, created),
        other => panic!("expected the create, got {other:?}"),
    }
    match next_item(&mut watcher).await {
        WatcherEvent::Modified { object, .. } => assert_eq!(object, updated),
        other => panic!("expected the update, got {other:?}"),
    }
}

fn rv(object: &Widget) -> ResourceVersion {
    object
        .metadata
        .version()
        .expect("stored objects carry a resource version")
}

async fn next_item(watcher: &mut Watcher<Widget>) -> WatcherEvent<Widget> {
    match tokio::time::timeout(EVENT_TIMEOUT, watcher.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("expected a watcher event, got {other:?}"),
    }
}

/// The cache (and a watcher) are cut off while writes go on and history is compacted: the
/// watcher re-lists (a second `InitialState`), and both converge to exactly the store's state.
pub async fn cache_relists_after_compaction_while_writes_continue<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let partition = Partition::default();
    let cut_off = partition.wrap(&store);
    let cache = Cache::<Widget>::with_config(&cut_off, &prefix, quick_retries()).unwrap();
    let watcher = Watcher::<Widget>::new(&cut_off, &prefix, quick_retries()).unwrap();
    let (replica_tx, mut replica) = tokio::sync::watch::channel(Replica::default());
    let replaying = tokio::spawn(replay(watcher, replica_tx));
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_until_synced())
        .await
        .expect("synced");

    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let writer = {
        let (store, prefix) = (store.clone(), prefix.clone());
        tokio::spawn(async move {
            let mut live = BTreeSet::new();
            let mut last = ResourceVersion::ZERO;
            for i in 0..300 {
                last = mixed_write(&store, &prefix, i, &mut live).await.0;
                progress_tx.send_replace(i + 1);
                tokio::task::yield_now().await;
            }
            last
        })
    };
    progress.wait_for(|&n| n >= 100).await.unwrap();
    partition.cut();
    progress.wait_for(|&n| n >= 150).await.unwrap();
    let now = store.current_resource_version().await.unwrap();
    store.compact(now).await.unwrap();
    partition.heal();
    let last = writer.await.unwrap();

    caught_up(&cache, last).await;
    let expected = stored(&store, &prefix).await;
    assert_eq!(cached(&cache), expected);

    let last = last.revision();
    let replica = tokio::time::timeout(EVENT_TIMEOUT, replica.wait_for(|r| r.revision >= last))
        .await
        .expect("the watcher caught up")
        .unwrap()
        .clone();
    replaying.abort();
    assert!(
        replica.lists >= 2,
        "the watcher re-listed after the compaction"
    );
    let expected: BTreeMap<String, Widget> = expected
        .into_iter()
        .map(|w| (format!("{prefix}/{}", w.metadata.name), w))
        .collect();
    assert_eq!(replica.state, expected);
}

/// What a watcher's consumer rebuilt.
#[derive(Debug, Clone, Default)]
struct Replica {
    lists: usize,
    revision: u64,
    state: BTreeMap<String, Widget>,
}

/// Applies a watcher's events to a map, publishing the result after each.
async fn replay(mut watcher: Watcher<Widget>, out: tokio::sync::watch::Sender<Replica>) {
    let mut replica = Replica::default();
    // The state a (re-)list is building, until its initial state is done.
    let mut building = None;
    while let Some(item) = watcher.next().await {
        match item {
            Ok(WatcherEvent::InitialState) => {
                replica.lists += 1;
                building = Some(BTreeMap::new());
            }
            Ok(WatcherEvent::Added { key, object }) if building.is_some() => {
                building
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, object);
            }
            Ok(WatcherEvent::InitialStateDone(resource_version)) => {
                replica.state = building.take().unwrap_or_default();
                replica.revision = resource_version.revision();
            }
            Ok(WatcherEvent::Added { key, object } | WatcherEvent::Modified { key, object }) => {
                replica.revision = revision_of(&object);
                replica.state.insert(key, object);
            }
            Ok(WatcherEvent::Deleted { key, object }) => {
                replica.revision = revision_of(&object);
                replica.state.remove(&key);
            }
            Ok(WatcherEvent::Bookmark(resource_version)) => {
                replica.revision = resource_version.revision();
            }
            Err(_) => continue,
        }
        out.send_replace(replica.clone());
    }
}

/// Reads from the cache: by name, all, by label selector; its resource version; reading one's
/// own write with `wait_for`; a bad version does not parse.
pub async fn cache_serves_reads_and_own_writes<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    store
        .create(&format!("{prefix}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let mut blue = widget("b", "blue");
    blue.metadata = blue.metadata.with_label("tier", "front");
    store.create(&format!("{prefix}/b"), &blue).await.unwrap();
    store
        .create(&format!("{prefix}-sibling/x"), &widget("x", "red"))
        .await
        .unwrap();
    let cache = synced_cache(&store, &prefix).await;
    assert!(cache.is_synced());
    assert_eq!(cache.len(), 2, "siblings of the prefix are not cached");
    assert_eq!(cache.get("a").unwrap().color, "red");
    assert!(cache.get("x").is_none());
    let front = cache.list_by(&LabelSelector::eq("tier", "front"));
    assert_eq!(front.len(), 1);
    assert_eq!(front[0].metadata.name, "b");

    let mut a = Widget::clone(&cache.get("a").unwrap());
    a.color = "green".to_owned();
    let written = store.update(&format!("{prefix}/a"), &a).await.unwrap();
    caught_up(&cache, rv(&written)).await;
    assert_eq!(*cache.get("a").unwrap(), written);
    assert!(rv(&written) <= cache.resource_version());
    let err = crate::Error::from("not-a-version".parse::<ResourceVersion>().unwrap_err());
    assert!(err.is_invalid_argument(), "{err}");
    assert!(Cache::<Widget>::new(&store, "no-slash")
        .unwrap_err()
        .is_invalid_key());
}

async fn next_change(events: &mut crate::cache::CacheEvents<Widget>) -> CacheEvent<Widget> {
    tokio::time::timeout(EVENT_TIMEOUT, events.next())
        .await
        .expect("an event")
        .expect("events go on")
}

/// Event handlers: current objects as added, then updated (old and new) and deleted.
pub async fn cache_events_report_changes<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/a");
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let cache = synced_cache(&store, &prefix).await;
    let mut events = cache.events();
    match next_change(&mut events).await {
        CacheEvent::Added(object) => assert_eq!(*object, created),
        other => panic!("{other:?}"),
    }
    let mut blue = created.clone();
    blue.color = "blue".to_owned();
    let updated = store.update(&key, &blue).await.unwrap();
    match next_change(&mut events).await {
        CacheEvent::Modified { old, new } => {
            assert_eq!(*old, created);
            assert_eq!(*new, updated);
        }
        other => panic!("{other:?}"),
    }
    let deleted = store
        .delete::<Widget>(&key, &Preconditions::default())
        .await
        .unwrap();
    match next_change(&mut events).await {
        CacheEvent::Deleted(object) => assert_eq!(object.color, deleted.color),
        other => panic!("{other:?}"),
    }
}

/// A cache index answers lookups exactly through creates, changes and deletes.
pub async fn cache_index_lookups_stay_exact<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    for (name, color) in [("a", "red"), ("b", "red"), ("c", "blue")] {
        store
            .create(&format!("{prefix}/{name}"), &widget(name, color))
            .await
            .unwrap();
    }
    let cache = Cache::<Widget>::new(&store, &prefix).unwrap();
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_until_synced())
        .await
        .unwrap();
    cache.add_index("color", |w: &Widget| vec![w.color.clone()]);
    let by_color = |color: &str| -> Vec<String> {
        cache
            .by_index("color", color)
            .unwrap()
            .iter()
            .map(|w| w.metadata.name.clone())
            .collect()
    };
    assert_eq!(by_color("red"), ["a", "b"]);
    store
        .guaranteed_update(&format!("{prefix}/a"), |w: &mut Widget| {
            w.color = "blue".into()
        })
        .await
        .unwrap();
    store
        .delete::<Widget>(&format!("{prefix}/c"), &Preconditions::none())
        .await
        .unwrap();
    let d = store
        .create(&format!("{prefix}/d"), &widget("d", "red"))
        .await
        .unwrap();
    caught_up(&cache, rv(&d)).await;
    assert_eq!(by_color("red"), ["b", "d"]);
    assert_eq!(by_color("blue"), ["a"]);
    assert!(by_color("green").is_empty());
    assert!(cache
        .by_index("size", "1")
        .unwrap_err()
        .is_invalid_argument());
}

/// A cache and a watcher made from a collection name objects as the collection does: by name
/// in a collection restricted to a namespace, by `namespace/name` across namespaces.
pub async fn caches_of_a_collection_use_its_names<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let all = store.collection::<Widget>(&prefix).unwrap();
    let team_a = all.namespaced("team-a").unwrap();
    let team_b = all.namespaced("team-b").unwrap();
    team_a.create(&widget("alice", "red")).await.unwrap();
    let last = team_b.create(&widget("alice", "blue")).await.unwrap();

    let of_a = Cache::for_collection(&team_a).unwrap();
    let of_all = Cache::for_collection(&all).unwrap();
    for cache in [&of_a, &of_all] {
        caught_up(cache, rv(&last)).await;
    }
    assert_eq!(of_a.get("alice").unwrap().color, "red");
    assert_eq!(of_a.len(), 1, "only its namespace");
    assert_eq!(of_all.get("team-b/alice").unwrap().color, "blue");
    assert_eq!(of_all.len(), 2);

    let mut watcher = Watcher::for_collection(&team_a, WatcherConfig::default()).unwrap();
    assert_eq!(watcher.prefix(), team_a.directory());
    assert!(matches!(
        next_item(&mut watcher).await,
        WatcherEvent::InitialState
    ));
    match next_item(&mut watcher).await {
        WatcherEvent::Added { key, object } => {
            assert_eq!(key, team_a.key_of("alice").unwrap());
            assert_eq!(object.color, "red");
        }
        other => panic!("expected the listed object, got {other:?}"),
    }
}

/// One watch feeds a cache and a controller: a watcher shaped to copy its events feeds the
/// cache, and the copy sees every change the cache applies.
pub async fn one_watcher_feeds_a_cache_and_a_controller<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let (copies, mut controller) = tokio::sync::mpsc::unbounded_channel();
    let watcher = Watcher::<Widget>::new(&store, &prefix, WatcherConfig::default())
        .unwrap()
        .shape(|events| {
            events.inspect(move |event| {
                if let Ok(event) = event {
                    let _ = copies.send(event.clone());
                }
            })
        });
    let cache = Cache::from_watcher(watcher);
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_until_synced())
        .await
        .expect("synced");
    let key = format!("{prefix}/a");
    store.create(&key, &widget("a", "red")).await.unwrap();
    let last = store
        .guaranteed_update(&key, |w: &mut Widget| w.color = "blue".into())
        .await
        .unwrap();
    caught_up(&cache, rv(&last)).await;
    assert_eq!(cache.get("a").unwrap().color, "blue");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = tokio::time::timeout(EVENT_TIMEOUT, controller.recv())
            .await
            .expect("the controller is told")
            .expect("the copy goes on");
        seen.push(event.event_type());
    }
    assert_eq!(
        seen,
        [
            None,
            None,
            Some(EventType::Added),
            Some(EventType::Modified)
        ],
        "the initial state (empty), then each change once"
    );
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cache_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            cache_converges_after_mixed_writes: Shared,
            watcher_delivers_each_change_once_in_order: Shared,
            watcher_resumes_after_an_empty_list_with_every_change: Exclusive,
            cache_relists_after_compaction_while_writes_continue: Exclusive,
            cache_serves_reads_and_own_writes: Shared,
            cache_events_report_changes: Shared,
            cache_index_lookups_stay_exact: Shared,
            caches_of_a_collection_use_its_names: Shared,
            one_watcher_feeds_a_cache_and_a_controller: Shared,
        }
    };
}
