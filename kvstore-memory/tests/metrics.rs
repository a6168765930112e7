//! What the store reports through the `metrics` facade (`kvstore_core::metrics`), read back
//! from a recorder installed for the test.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::metrics::{
    CACHE_OBJECTS, REQUESTS, REQUEST_DURATION, UPDATE_CONFLICTS, WATCH_LAG, WATCH_STREAMS,
};
use kvstore_core::{Cache, ResourceVersion, Store, WatchFrom};
use kvstore_memory::MemoryBackend;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// What a test's recorder got, added up: a snapshot resets the recorder's values, so counters
/// and gauges (whose snapshots are then changes) are summed and histograms' samples kept.
struct Readings {
    snapshotter: Snapshotter,
    totals: RefCell<HashMap<String, f64>>,
    samples: RefCell<HashMap<String, Vec<f64>>>,
}

/// A metric's name and labels, as one string.
fn id(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort_unstable();
    format!("{name}{labels:?}")
}

impl Readings {
    fn drain(&self) {
        for (key, .., value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            let id = id(key.name(), &labels);
            match value {
                DebugValue::Counter(n) => {
                    *self.totals.borrow_mut().entry(id).or_default() += n as f64;
                }
                DebugValue::Gauge(g) => {
                    *self.totals.borrow_mut().entry(id).or_default() += g.into_inner();
                }
                DebugValue::Histogram(values) => self
                    .samples
                    .borrow_mut()
                    .entry(id)
                    .or_default()
                    .extend(values.iter().map(|v| v.into_inner())),
            }
        }
    }

    /// A counter's or gauge's value.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.drain();
        self.totals
            .borrow()
            .get(&id(name, labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// A histogram's samples.
    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.drain();
        self.samples
            .borrow()
            .get(&id(name, labels))
            .cloned()
            .unwrap_or_default()
    }
}

/// Runs `test` on a runtime of this thread with a recorder of its own.
fn recorded(test: impl AsyncFnOnce(Store<Json>, &Readings)) {
    let recorder = DebuggingRecorder::new();
    let readings = Readings {
        snapshotter: recorder.snapshotter(),
        totals: RefCell::default(),
        samples: RefCell::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(test(Store::new(MemoryBackend::new(), Json), &readings));
    });
}

#[test]
fn calls_are_counted_and_timed_by_operation_kind_and_result() {
    recorded(async |store, metrics| {
        store.create("/m/a", &widget("a", "red")).await.unwrap();
        store.get::<Widget>("/m/a").await.unwrap();
        store.get::<Widget>("/m/a").await.unwrap();
        let missing = store.get::<Widget>("/m/none").await.unwrap_err();
        assert!(missing.is_not_found());

        let ok = [("operation", "get"), ("kind", "Widget"), ("result", "ok")];
        assert_eq!(metrics.value(REQUESTS, &ok), 2.0);
        let not_found = [
            ("operation", "get"),
            ("kind", "Widget"),
            ("result", "not_found"),
        ];
        assert_eq!(metrics.value(REQUESTS, &not_found), 1.0);
        let created = [
            ("operation", "create"),
            ("kind", "Widget"),
            ("result", "ok"),
        ];
        assert_eq!(metrics.value(REQUESTS, &created), 1.0);
        let seconds = metrics.samples(REQUEST_DURATION, &ok);
        assert_eq!(seconds.len(), 2);
        assert!(
            seconds.iter().all(|s| (0.0..10.0).contains(s)),
            "{seconds:?}"
        );
    });
}

#[test]
fn open_watch_streams_are_counted_until_dropped() {
    recorded(async |store, metrics| {
        let kind = [("kind", "Widget")];
        let first = store
            .watch_prefix::<Widget>("/m", WatchFrom::Now)
            .await
            .unwrap();
        let second = store
            .watch_prefix::<Widget>("/m", WatchFrom::Now)
            .await
            .unwrap();
        assert_eq!(metrics.value(WATCH_STREAMS, &kind), 2.0);
        drop(first);
        assert_eq!(metrics.value(WATCH_STREAMS, &kind), 1.0);
        drop(second);
        assert_eq!(metrics.value(WATCH_STREAMS, &kind), 0.0);
    });
}

#[test]
fn a_watch_replaying_history_lags_the_head_by_what_it_has_left() {
    recorded(async |store, metrics| {
        let mut versions = Vec::new();
        for name in ["a", "b", "c", "d"] {
            let created = store
                .create(&format!("/m/{name}"), &widget(name, "red"))
                .await
                .unwrap();
            versions.push(created.metadata.resource_version.unwrap());
        }
        // From the first create: the three after it, while the store has seen the fourth.
        let first: ResourceVersion = versions[0].parse().unwrap();
        let mut replay = store
            .watch_prefix::<Widget>("/m", WatchFrom::Version(first))
            .await
            .unwrap();
        for _ in 0..3 {
            replay.next().await.unwrap().unwrap();
        }
        let kind = [("kind", "Widget")];
        assert_eq!(metrics.samples(WATCH_LAG, &kind), [2.0, 1.0, 0.0]);
        // A change made now is delivered level with the head.
        store.create("/m/e", &widget("e", "red")).await.unwrap();
        replay.next().await.unwrap().unwrap();
        assert_eq!(metrics.samples(WATCH_LAG, &kind), [2.0, 1.0, 0.0, 0.0]);
    });
}

#[test]
fn guaranteed_update_conflicts_are_counted() {
    recorded(async |store, metrics| {
        store.create("/m/c", &widget("c", "red")).await.unwrap();
        let other = store.clone();
        let mut interfered = false;
        store
            .guaranteed_update("/m/c", |w: &mut Widget| {
                // The first attempt is overtaken by another writer: one conflict, one retry.
                if !interfered {
                    interfered = true;
                    let other = other.clone();
                    std::thread::spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap();
                        runtime.block_on(other.guaranteed_update("/m/c", |w: &mut Widget| {
                            w.count += 10;
                        }))
                    })
                    .join()
                    .unwrap()
                    .unwrap();
                }
                w.count += 1;
            })
            .await
            .unwrap();
        let last: Widget = store.get("/m/c").await.unwrap();
        assert_eq!(last.count, 11);
        assert_eq!(metrics.value(UPDATE_CONFLICTS, &[("kind", "Widget")]), 1.0);
    });
}

#[test]
fn a_cache_counts_the_objects_it_holds_and_gives_them_back_when_dropped() {
    recorded(async |store, metrics| {
        for name in ["a", "b", "c"] {
            store
                .create(&format!("/m/{name}"), &widget(name, "red"))
                .await
                .unwrap();
        }
        let cache = Cache::<Widget>::new(&store, "/m").unwrap();
        cache.wait_until_synced().await;
        let kind = [("kind", "Widget")];
        assert_eq!(metrics.value(CACHE_OBJECTS, &kind), 3.0);
        store
            .delete::<Widget>("/m/a", &Default::default())
            .await
            .unwrap();
        let now = store.current_resource_version().await.unwrap();
        cache.wait_for(now).await.unwrap();
        assert_eq!(metrics.value(CACHE_OBJECTS, &kind), 2.0);
        drop(cache);
        // The feed task ends once aborted; give the runtime a turn to drop it.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(metrics.value(CACHE_OBJECTS, &kind), 0.0);
    });
}
