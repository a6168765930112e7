//! Watches: order, exactly-once, start points, initial state, deletes, compaction.

use super::crud::put_raw;
use super::{
    assert_quiet, next_error, next_event, revision_of, unique_prefix, widget, TestCodec, Widget,
};
use crate::resource_version::ResourceVersion;
use crate::store::{Preconditions, Store, WatchEvent, WatchFrom, WatchOptions};

fn tag(event: &WatchEvent<Widget>) -> String {
    match event {
        WatchEvent::Added(w) => format!("created {} {}", w.metadata.name, w.count),
        WatchEvent::Modified(w) => format!("updated {} {}", w.metadata.name, w.count),
        WatchEvent::Deleted(w) => format!("deleted {} {}", w.metadata.name, w.count),
        WatchEvent::InitialStateDone(_) => "initial state done".to_owned(),
        WatchEvent::Bookmark(resource_version) => format!("bookmark {resource_version}"),
    }
}

/// The next events carry the counts `expected`, in order.
async fn expect_counts(
    events: &mut crate::store::WatchStream<Widget>,
    expected: impl IntoIterator<Item = u64>,
) {
    for count in expected {
        assert_eq!(next_event(events).await.object().unwrap().count, count);
    }
}

/// Every change after the watch starts arrives once, in revision order, with its type.
pub async fn watch_delivers_every_change_in_order<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    store.create(&a, &widget("a", "red")).await.unwrap();
    store.create(&b, &widget("b", "red")).await.unwrap();
    store
        .guaranteed_update(&a, |w: &mut Widget| w.count = 1)
        .await
        .unwrap();
    store
        .guaranteed_update(&b, |w: &mut Widget| w.count = 2)
        .await
        .unwrap();
    store
        .delete::<Widget>(&a, &Preconditions::none())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut last = 0;
    for _ in 0..5 {
        let event = next_event(&mut events).await;
        let rv: u64 = event.resource_version().unwrap().revision();
        assert!(rv > last, "revision order");
        last = rv;
        seen.push(tag(&event));
    }
    assert_eq!(
        seen,
        [
            "created a 0",
            "created b 0",
            "updated a 1",
            "updated b 2",
            "deleted a 1"
        ]
    );
    assert_quiet(&mut events).await;
}

/// A watch from version N delivers changes after N, not N itself.
pub async fn watch_from_version_is_exclusive<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/a");
    let first = store.create(&key, &widget("a", "red")).await.unwrap();
    let second = store
        .guaranteed_update(&key, |w: &mut Widget| w.count = 1)
        .await
        .unwrap();
    store
        .guaranteed_update(&key, |w: &mut Widget| w.count = 2)
        .await
        .unwrap();
    let from = WatchFrom::Version(first.metadata.version().unwrap());
    let mut events = store.watch_prefix::<Widget>(&prefix, from).await.unwrap();
    let event = next_event(&mut events).await;
    assert_eq!(event, WatchEvent::Modified(second));
    assert_eq!(tag(&next_event(&mut events).await), "updated a 2");
    assert_quiet(&mut events).await;
}

/// Dropping a watch and resuming from the last seen version loses and repeats nothing.
pub async fn watch_resumes_after_drop<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/n");
    store.create(&key, &widget("n", "red")).await.unwrap();
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
            .await
            .unwrap();
    }
    let mut last = ResourceVersion::ZERO;
    for expected in 1..=2 {
        let event = next_event(&mut events).await;
        assert_eq!(event.object().unwrap().count, expected);
        last = event.resource_version().unwrap();
    }
    drop(events);
    for _ in 0..2 {
        store
            .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
            .await
            .unwrap();
    }
    let mut resumed = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Version(last))
        .await
        .unwrap();
    expect_counts(&mut resumed, 3..=5).await;
    assert_quiet(&mut resumed).await;
}

/// With initial state: Added per current object, the marker, then only later changes.
pub async fn watch_with_initial_state<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    for name in ["b", "a"] {
        store
            .create(&format!("{prefix}/{name}"), &widget(name, "red"))
            .await
            .unwrap();
    }
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::InitialState)
        .await
        .unwrap();
    store
        .create(&format!("{prefix}/c"), &widget("c", "red"))
        .await
        .unwrap();
    assert_eq!(tag(&next_event(&mut events).await), "created a 0");
    assert_eq!(tag(&next_event(&mut events).await), "created b 0");
    let marker = next_event(&mut events).await;
    let WatchEvent::InitialStateDone(resource_version) = &marker else {
        panic!("expected the initial state marker, got {marker:?}");
    };
    let created_c = next_event(&mut events).await;
    assert_eq!(tag(&created_c), "created c 0");
    assert!(revision_of(created_c.object().unwrap()) > resource_version.revision());
    assert_quiet(&mut events).await;

    let empty = unique_prefix();
    let mut events = store
        .watch_prefix::<Widget>(&empty, WatchFrom::InitialState)
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::InitialStateDone(_)
    ));
}

/// A watch from resource version "0" is the initial-state watch, on every entry point: the
/// current objects, the marker, then every change.
pub async fn watch_from_version_zero_is_the_initial_state<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    store
        .create(&format!("{prefix}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let zero = || WatchFrom::Version(ResourceVersion::ZERO);
    let mut by_prefix = store.watch_prefix::<Widget>(&prefix, zero()).await.unwrap();
    let mut by_key = store
        .watch::<Widget>(&format!("{prefix}/a"), zero())
        .await
        .unwrap();
    let mut by_name = store
        .collection::<Widget>(&prefix)
        .unwrap()
        .watch(&WatchOptions::starting(zero()))
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{prefix}/a"), |w: &mut Widget| w.count = 1)
        .await
        .unwrap();
    for events in [&mut by_prefix, &mut by_key, &mut by_name] {
        assert_eq!(tag(&next_event(events).await), "created a 0");
        assert!(matches!(
            next_event(events).await,
            WatchEvent::InitialStateDone(_)
        ));
        assert_eq!(tag(&next_event(events).await), "updated a 1");
        assert_quiet(events).await;
    }
}

/// A Deleted event carries the object's last state at the delete's version.
pub async fn watch_deleted_event_carries_last_object<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/a");
    store.create(&key, &widget("a", "red")).await.unwrap();
    store
        .guaranteed_update(&key, |w: &mut Widget| w.color = "blue".into())
        .await
        .unwrap();
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    let deleted = store
        .delete::<Widget>(&key, &Preconditions::none())
        .await
        .unwrap();
    match next_event(&mut events).await {
        WatchEvent::Deleted(last) => {
            assert_eq!(last.color, "blue");
            assert_eq!(last, deleted);
        }
        other => panic!("expected Deleted, got {other:?}"),
    }
}

/// Watching `/users` never reports `/users2/...`.
pub async fn watch_prefix_excludes_siblings<C: TestCodec>(store: Store<C>) {
    let root = unique_prefix();
    let mut events = store
        .watch_prefix::<Widget>(&format!("{root}/users"), WatchFrom::Now)
        .await
        .unwrap();
    store
        .create(&format!("{root}/users2/x"), &widget("x", "red"))
        .await
        .unwrap();
    store
        .create(&format!("{root}/users"), &widget("self", "red"))
        .await
        .unwrap();
    store
        .create(&format!("{root}/users/a"), &widget("a", "red"))
        .await
        .unwrap();
    assert_eq!(tag(&next_event(&mut events).await), "created a 0");
    assert_quiet(&mut events).await;
}

/// Watching a key reports that key only.
pub async fn watch_single_key<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/a");
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    store
        .create(&format!("{prefix}/ab"), &widget("ab", "red"))
        .await
        .unwrap();
    store
        .create(&format!("{key}/child"), &widget("child", "red"))
        .await
        .unwrap();
    store.create(&key, &widget("a", "red")).await.unwrap();
    assert_eq!(tag(&next_event(&mut events).await), "created a 0");
    assert_quiet(&mut events).await;
    let mut initial = store
        .watch::<Widget>(&key, WatchFrom::InitialState)
        .await
        .unwrap();
    assert_eq!(tag(&next_event(&mut initial).await), "created a 0");
    assert!(matches!(
        next_event(&mut initial).await,
        WatchEvent::InitialStateDone(_)
    ));
}

/// A consumer that reads late still gets every change, in order.
pub async fn watch_slow_consumer_loses_nothing<C: TestCodec>(store: Store<C>) {
    const WRITES: u64 = 300;
    let prefix = unique_prefix();
    let key = format!("{prefix}/n");
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    store.create(&key, &widget("n", "red")).await.unwrap();
    for _ in 0..WRITES {
        store
            .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
            .await
            .unwrap();
    }
    expect_counts(&mut events, 0..=WRITES).await;
}

/// Watches of one prefix open at the same time each start where they asked: one from now sees
/// no earlier change (even one another watch is still to read), one from an older version
/// replays from there, and each sees every later change once.
pub async fn concurrent_watches_each_start_where_asked<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/n");
    let mut early = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    let created = store.create(&key, &widget("n", "red")).await.unwrap();
    store
        .guaranteed_update(&key, |w: &mut Widget| w.count = 1)
        .await
        .unwrap();
    let mut now = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    let from = WatchFrom::Version(created.metadata.version().unwrap());
    let mut replay = store.watch_prefix::<Widget>(&prefix, from).await.unwrap();
    store
        .guaranteed_update(&key, |w: &mut Widget| w.count = 2)
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(tag(&next_event(&mut early).await));
    }
    assert_eq!(seen, ["created n 0", "updated n 1", "updated n 2"]);
    assert_eq!(tag(&next_event(&mut now).await), "updated n 2");
    assert_eq!(tag(&next_event(&mut replay).await), "updated n 1");
    assert_eq!(tag(&next_event(&mut replay).await), "updated n 2");
    assert_quiet(&mut early).await;
    assert_quiet(&mut now).await;
    assert_quiet(&mut replay).await;
}

/// A watch nobody reads holds back no other watch of the prefix, and later delivers every
/// change it missed, in order.
pub async fn unread_watch_holds_back_no_other<C: TestCodec>(store: Store<C>) {
    const WRITES: u64 = 300;
    let prefix = unique_prefix();
    let key = format!("{prefix}/n");
    let mut unread = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    let mut reader = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    store.create(&key, &widget("n", "red")).await.unwrap();
    for expected in 0..=WRITES {
        assert_eq!(
            next_event(&mut reader).await.object().unwrap().count,
            expected
        );
        if expected < WRITES {
            store
                .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
                .await
                .unwrap();
        }
    }
    expect_counts(&mut unread, 0..=WRITES).await;
    assert_quiet(&mut unread).await;
}

/// An undecodable value is reported as an error naming the key, and the watch goes on.
pub async fn watch_reports_undecodable_values<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    let bad = format!("{prefix}/bad");
    put_raw(&store, &bad, b"garbage").await;
    store
        .create(&format!("{prefix}/good"), &widget("good", "red"))
        .await
        .unwrap();
    let err = next_error(&mut events).await;
    assert!(err.is_codec(), "{err}");
    assert_eq!(err.key(), Some(bad.as_str()));
    assert_eq!(tag(&next_event(&mut events).await), "created good 0");
}

/// A watch from a compacted version is Gone (so the caller re-lists).
pub async fn watch_from_compacted_version_is_gone<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/a");
    let first = store.create(&key, &widget("a", "red")).await.unwrap();
    for _ in 0..3 {
        store
            .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
            .await
            .unwrap();
    }
    let now = store.current_resource_version().await.unwrap();
    store.compact(now).await.unwrap();
    let from = WatchFrom::Version(first.metadata.version().unwrap());
    let err = match store.watch_prefix::<Widget>(&prefix, from).await {
        Err(err) => err,
        Ok(mut events) => next_error(&mut events).await,
    };
    assert!(err.is_gone(), "{err}");
    // Watching from the compaction point itself still works.
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Version(now))
        .await
        .unwrap();
    store
        .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
        .await
        .unwrap();
    assert_eq!(tag(&next_event(&mut events).await), "updated a 4");
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_watch_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            watch_delivers_every_change_in_order: Shared,
            watch_from_version_is_exclusive: Shared,
            watch_resumes_after_drop: Shared,
            watch_with_initial_state: Shared,
            watch_from_version_zero_is_the_initial_state: Shared,
            watch_deleted_event_carries_last_object: Shared,
            watch_prefix_excludes_siblings: Shared,
            watch_single_key: Shared,
            watch_slow_consumer_loses_nothing: Shared,
            concurrent_watches_each_start_where_asked: Shared,
            unread_watch_holds_back_no_other: Shared,
            watch_reports_undecodable_values: Shared,
            watch_from_compacted_version_is_gone: Exclusive,
        }
    };
}
