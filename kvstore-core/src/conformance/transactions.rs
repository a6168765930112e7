//! Typed transactions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{
    keys_under, next_event, revision_of, unique_prefix, widget, Gadget, TestCodec, Widget,
};
use crate::store::{Preconditions, Store, WatchEvent, WatchFrom, MAX_TXN_OPS};
use crate::ObjectMeta;

fn gadget(name: &str, size: u32) -> Gadget {
    Gadget {
        metadata: ObjectMeta::named(name),
        size,
    }
}

/// Writes of several kinds apply together at one resource version, with a typed result each;
/// a failing condition writes nothing and names the key that moved on, with its version.
pub async fn txn_applies_all_or_nothing<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let a = store
        .create(&format!("{p}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let b = store
        .create(&format!("{p}/b"), &gadget("b", 1))
        .await
        .unwrap();
    let t = store
        .create(&format!("{p}/t"), &widget("t", "red"))
        .await
        .unwrap();
    let mut a2 = a.clone();
    a2.color = "blue".to_owned();
    let mut outcome = store
        .txn()
        .update(&format!("{p}/a"), &a2)
        .create(&format!("{p}/c"), &gadget("c", 3))
        .delete::<Gadget>(
            &format!("{p}/b"),
            &Preconditions::resource_version(b.metadata.version().unwrap()),
        )
        .touch::<Widget>(&format!("{p}/t"))
        .commit()
        .await
        .unwrap();
    assert!(outcome.applied());
    assert!(outcome.conflicts().is_empty());
    let rv = outcome.resource_version().unwrap();
    let updated: Widget = outcome.take(0).unwrap();
    let created: Gadget = outcome.take(1).unwrap();
    let deleted: Gadget = outcome.take(2).unwrap();
    let touched: Widget = outcome.take(3).unwrap();
    assert!(outcome.take::<Widget>(0).is_none(), "taken once");
    for version in [
        updated.metadata.version(),
        created.metadata.version(),
        deleted.metadata.version(),
        touched.metadata.version(),
    ] {
        assert_eq!(version, Some(rv));
    }
    assert_eq!(updated.color, "blue");
    assert!(created.metadata.uid.is_some());
    assert_eq!(deleted.size, 1);
    assert_eq!(
        (touched.color.as_str(), touched.metadata.uid),
        ("red", t.metadata.uid)
    );
    assert!(revision_of(&touched) > revision_of(&t));
    assert_eq!(
        store.get::<Widget>(&format!("{p}/a")).await.unwrap(),
        updated
    );
    assert_eq!(
        store.get::<Gadget>(&format!("{p}/c")).await.unwrap(),
        created
    );
    assert!(store
        .get::<Gadget>(&format!("{p}/b"))
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        store.get::<Widget>(&format!("{p}/t")).await.unwrap(),
        touched
    );

    // A stale version: nothing is written, and the conflict names the key and its version.
    let outcome = store
        .txn()
        .create(&format!("{p}/d"), &widget("d", "red"))
        .update(&format!("{p}/a"), &a2)
        .commit()
        .await
        .unwrap();
    assert!(!outcome.applied());
    assert_eq!(outcome.resource_version(), None);
    assert_eq!(outcome.conflicts().len(), 1);
    assert_eq!(outcome.conflicts()[0].key, format!("{p}/a"));
    assert_eq!(outcome.conflicts()[0].current, Some(rv));
    assert!(!store.exists(&format!("{p}/d")).await.unwrap());
    assert_eq!(
        store.get::<Widget>(&format!("{p}/a")).await.unwrap(),
        updated
    );
}

/// Conditions on other keys: exists, absent, at a resource version; each failing one is named.
pub async fn txn_conditions_on_other_keys<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let guard = store
        .create(&format!("{p}/guard"), &widget("guard", "red"))
        .await
        .unwrap();
    let rv = guard.metadata.version().unwrap();
    let write = |name: &str| widget(name, "red");
    let outcome = store
        .txn()
        .require_exists(&format!("{p}/guard"))
        .require_absent(&format!("{p}/free"))
        .require_version(&format!("{p}/guard"), rv)
        .create(&format!("{p}/x"), &write("x"))
        .commit()
        .await
        .unwrap();
    assert!(outcome.applied());
    let outcome = store
        .txn()
        .require_exists(&format!("{p}/free"))
        .require_absent(&format!("{p}/guard"))
        .create(&format!("{p}/y"), &write("y"))
        .commit()
        .await
        .unwrap();
    assert!(!outcome.applied());
    let mut conflicts: Vec<_> = outcome
        .conflicts()
        .iter()
        .map(|c| (c.key.clone(), c.current))
        .collect();
    conflicts.sort();
    assert_eq!(
        conflicts,
        [
            (format!("{p}/free"), None),
            (format!("{p}/guard"), Some(rv))
        ]
    );
    assert!(!store.exists(&format!("{p}/y")).await.unwrap());
}

/// Transactions racing on the same objects at the same versions: exactly one applies.
pub async fn concurrent_conflicting_txns_exactly_one_applies<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let x = store
        .create(&format!("{p}/x"), &widget("x", "red"))
        .await
        .unwrap();
    let y = store
        .create(&format!("{p}/y"), &widget("y", "red"))
        .await
        .unwrap();
    let applied = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let (store, p, applied) = (store.clone(), p.clone(), Arc::clone(&applied));
        let (mut x, mut y) = (x.clone(), y.clone());
        tasks.push(tokio::spawn(async move {
            x.count = i;
            y.count = i;
            let outcome = store
                .txn()
                .update(&format!("{p}/x"), &x)
                .update(&format!("{p}/y"), &y)
                .commit()
                .await
                .unwrap();
            if outcome.applied() {
                applied.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(applied.load(Ordering::SeqCst), 1);
    let (x, y) = (
        store.get::<Widget>(&format!("{p}/x")).await.unwrap(),
        store.get::<Widget>(&format!("{p}/y")).await.unwrap(),
    );
    assert_eq!(
        x.count, y.count,
        "both from the one transaction that applied"
    );
    assert_eq!(x.metadata.resource_version, y.metadata.resource_version);
}

/// A watch sees every change of a transaction at the same resource version, together.
pub async fn txn_changes_reach_watchers_together<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let a = store
        .create(&format!("{p}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let mut events = store
        .watch_prefix::<Widget>(&p, WatchFrom::Now)
        .await
        .unwrap();
    let mut a2 = a.clone();
    a2.count = 7;
    let outcome = store
        .txn()
        .create(&format!("{p}/b"), &widget("b", "red"))
        .update(&format!("{p}/a"), &a2)
        .create(&format!("{p}/c"), &widget("c", "red"))
        .commit()
        .await
        .unwrap();
    let rv = outcome.resource_version().unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut events).await;
        assert_eq!(event.resource_version(), Some(rv), "{event:?}");
        let (kind, object) = match event {
            WatchEvent::Added(o) => ("created", o),
            WatchEvent::Modified(o) => ("updated", o),
            other => panic!("unexpected {other:?}"),
        };
        seen.push(format!("{kind} {}", object.metadata.name));
    }
    seen.sort();
    assert_eq!(seen, ["created b", "created c", "updated a"]);
}

/// An unconditional write in a transaction never replaces another kind; over the operation
/// limit or with an invalid key nothing is sent.
pub async fn txn_refuses_other_kinds_bad_keys_and_too_many_operations<C: TestCodec>(
    store: Store<C>,
) {
    let p = unique_prefix();
    let w = store
        .create(&format!("{p}/w"), &widget("w", "red"))
        .await
        .unwrap();
    let err = store
        .txn()
        .create(&format!("{p}/n"), &widget("n", "red"))
        .update_unconditionally(&format!("{p}/w"), &gadget("w", 9))
        .commit()
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::KindMismatch { .. }), "{err}");
    assert_eq!(err.key(), Some(format!("{p}/w").as_str()));
    let err = store
        .txn()
        .touch::<Gadget>(&format!("{p}/w"))
        .commit()
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::KindMismatch { .. }), "{err}");
    assert_eq!(store.get::<Widget>(&format!("{p}/w")).await.unwrap(), w);

    let mut txn = store.txn();
    for i in 0..=MAX_TXN_OPS {
        txn = txn.create(&format!("{p}/many/{i}"), &widget("m", "red"));
    }
    let err = txn.commit().await.unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    assert!(err.to_string().contains(&MAX_TXN_OPS.to_string()), "{err}");

    let err = store
        .txn()
        .create(&format!("{p}/ok"), &widget("ok", "red"))
        .create("no-slash", &widget("bad", "red"))
        .commit()
        .await
        .unwrap_err();
    assert!(err.is_invalid_key(), "{err}");
    let err = store
        .txn()
        .update(&format!("{p}/w"), &widget("w", "unversioned"))
        .commit()
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    assert_eq!(keys_under(&store, &p).await, 1, "nothing written");
    assert_eq!(store.get::<Widget>(&format!("{p}/w")).await.unwrap(), w);
    // Of the right kind, the unconditional write applies.
    let mut outcome = store
        .txn()
        .update_unconditionally(&format!("{p}/w"), &widget("w", "blue"))
        .commit()
        .await
        .unwrap();
    assert!(outcome.applied());
    assert_eq!(outcome.take::<Widget>(0).unwrap().color, "blue");
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_transactions_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            txn_applies_all_or_nothing: Shared,
            txn_conditions_on_other_keys: Shared,
            concurrent_conflicting_txns_exactly_one_applies: Shared,
            txn_changes_reach_watchers_together: Shared,
            txn_refuses_other_kinds_bad_keys_and_too_many_operations: Shared,
        }
    };
}
