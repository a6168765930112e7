//! Read-modify-write.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::{revision_of, unique_prefix, widget, TestCodec, Widget};
use crate::store::Store;

/// Read-modify-write applies the change, and skips the write when nothing changed.
pub async fn guaranteed_update_applies_and_skips_unchanged_writes<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let updated = store
        .guaranteed_update(&key, |w: &mut Widget| w.count += 5)
        .await
        .unwrap();
    assert_eq!(updated.count, 5);
    assert_eq!(updated.metadata.uid, created.metadata.uid);
    let revision = store.current_resource_version().await.unwrap();
    let unchanged = store
        .guaranteed_update(&key, |w: &mut Widget| w.count = 5)
        .await
        .unwrap();
    assert_eq!(unchanged, updated);
    assert_eq!(
        store.current_resource_version().await.unwrap(),
        revision,
        "no write expected"
    );
    let missing = format!("{key}-missing");
    let err = store
        .guaranteed_update(&missing, |w: &mut Widget| w.count += 1)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// An error from the closure aborts the update and writes nothing.
pub async fn guaranteed_update_abort_writes_nothing<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let err = store
        .try_guaranteed_update(&key, |w: &mut Widget| {
            w.color = "blue".into();
            Err("quota exceeded")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Aborted { .. }), "{err}");
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), created);
}

/// 8 tasks × 50 read-modify-write increments end at exactly 400, every returned version unique.
pub async fn concurrent_guaranteed_updates_add_up<C: TestCodec>(store: Store<C>) {
    const TASKS: u64 = 8;
    const INCREMENTS: u64 = 50;
    let key = format!("{}/counter", unique_prefix());
    let created = store.create(&key, &widget("counter", "red")).await.unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        let key = key.clone();
        let calls = Arc::clone(&calls);
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..INCREMENTS {
                let written = store
                    .guaranteed_update(&key, |w: &mut Widget| {
                        calls.fetch_add(1, Ordering::Relaxed);
                        w.count += 1;
                    })
                    .await
                    .unwrap();
                seen.push((revision_of(&written), written.count));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let last: Widget = store.get(&key).await.unwrap();
    assert_eq!(last.count, TASKS * INCREMENTS);
    all.sort();
    // Each success wrote a distinct count at a distinct, increasing revision.
    let counts: Vec<u64> = all.iter().map(|(_, count)| *count).collect();
    assert_eq!(counts, (1..=TASKS * INCREMENTS).collect::<Vec<_>>());
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(all[0].0 > revision_of(&created));
    assert!(calls.load(Ordering::Relaxed) as u64 >= TASKS * INCREMENTS);
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_rmw_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            guaranteed_update_applies_and_skips_unchanged_writes: Shared,
            guaranteed_update_abort_writes_nothing: Shared,
            concurrent_guaranteed_updates_add_up: Shared,
        }
    };
}
