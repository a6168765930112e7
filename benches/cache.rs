//! Cached reads against a plain `HashMap` of `Arc`s (the floor) and against direct store reads;
//! consistent cached reads against the store's linearizable reads on etcd.
//!
//! ```sh
//! cargo bench --bench cache                        # memory backend
//! cargo bench --bench cache --features etcd-tests  # also etcd (starts its own server)
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
#[cfg(feature = "etcd-tests")]
use futures::StreamExt;
use kvstore::{Cache, Json, LabelSelector, ListOptions, MemoryBackend, Store};
use tokio::runtime::Runtime;

use common::{endpoint, Endpoint};

const OBJECTS: usize = 1_000;
const PREFIX: &str = "/bench/endpoints";

fn names() -> Vec<String> {
    (0..OBJECTS).map(|i| format!("ep{i:05}")).collect()
}

async fn fill(store: &Store<Json>) {
    store.delete_prefix(PREFIX).await.unwrap();
    for name in names() {
        store
            .create(&format!("{PREFIX}/{name}"), &endpoint(&name))
            .await
            .unwrap();
    }
}

/// Gets from the cache, the floor, and the store behind the cache.
fn gets(c: &mut Criterion, runtime: &Runtime, backend: &str, store: &Store<Json>) {
    let cache = runtime.block_on(async {
        let cache = Cache::<Endpoint>::new(store, PREFIX).unwrap();
        cache.wait_until_synced().await;
        cache
    });
    assert_eq!(cache.len(), OBJECTS);
    let names = names();
    let floor: HashMap<String, Arc<Endpoint>> = names
        .iter()
        .map(|n| (n.clone(), cache.get(n).unwrap()))
        .collect();

    let mut group = c.benchmark_group(format!("get/{backend}"));
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("hashmap_floor", |b| {
        b.iter(|| {
            i = (i + 1) % OBJECTS;
            black_box(floor.get(names[i].as_str()).cloned())
        })
    });
    group.bench_function("cache", |b| {
        b.iter(|| {
            i = (i + 1) % OBJECTS;
            black_box(cache.get(&names[i]))
        })
    });
    group.bench_function("store", |b| {
        b.to_async(runtime).iter(|| {
            i = (i + 1) % OBJECTS;
            let key = format!("{PREFIX}/{}", names[i]);
            async move { black_box(store.get::<Endpoint>(&key).await.unwrap()) }
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("list_{OBJECTS}/{backend}"));
    group.throughput(Throughput::Elements(OBJECTS as u64));
    group.bench_function(BenchmarkId::new("cache", OBJECTS), |b| {
        b.iter(|| black_box(cache.list()))
    });
    group.bench_function(BenchmarkId::new("store", OBJECTS), |b| {
        b.to_async(runtime).iter(|| async {
            black_box(
                store
                    .list::<Endpoint>(PREFIX, &ListOptions::default())
                    .await
                    .unwrap(),
            )
        })
    });
    group.finish();
}

fn memory(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let store = Store::new(MemoryBackend::new(), Json);
    runtime.block_on(fill(&store));
    gets(c, &runtime, "memory", &store);
}

/// An index lookup of 100 matches among 100,000 cached objects, against a full scan.
fn index_lookup(c: &mut Criterion) {
    const MANY: usize = 100_000;
    const OWNERS: usize = MANY / 100;
    let runtime = Runtime::new().unwrap();
    let store = Store::new(MemoryBackend::new(), Json);
    let cache = runtime.block_on(async {
        for i in 0..MANY {
            let mut object = endpoint(&format!("ep{i:06}"));
            object
                .metadata
                .labels
                .insert("owner".into(), format!("team{}", i % OWNERS));
            store
                .create(&format!("/bench/indexed/ep{i:06}"), &object)
                .await
                .unwrap();
        }
        let cache = Cache::<Endpoint>::new(&store, "/bench/indexed").unwrap();
        cache.wait_until_synced().await;
        cache
    });
    assert_eq!(cache.len(), MANY);
    let owner = |e: &Endpoint| e.metadata.labels.get("owner").cloned();
    cache.add_index("owner", move |e: &Endpoint| owner(e).into_iter().collect());
    assert_eq!(cache.by_index("owner", "team7").unwrap().len(), 100);

    let mut group = c.benchmark_group("index_100_of_100000");
    group.bench_function("index", |b| {
        b.iter(|| black_box(cache.by_index("owner", black_box("team7")).unwrap()))
    });
    // The scan a cache without the index offers: a label selector over every object.
    let selector: LabelSelector = "owner=team7".parse().unwrap();
    group.bench_function("full_scan", |b| {
        b.iter(|| black_box(cache.list_by(black_box(&selector))))
    });
    group.finish();
}

#[cfg(feature = "etcd-tests")]
fn etcd(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let Ok(etcd) = runtime.block_on(kvstore_testkit::etcd::TestEtcd::start()) else {
        return;
    };
    let store = runtime.block_on(async { Store::new(etcd.backend().await, Json) });
    runtime.block_on(fill(&store));
    gets(c, &runtime, "etcd", &store);
    drop(etcd);
}

/// Consistent reads from a cache against the same reads from etcd, on one etcd of its own:
/// a list of 10,000 objects, and gets at concurrency 64.
///
/// Progress requests are turned on explicitly: the etcd release installed here (3.4.23) is one
/// `ProgressRequests::Auto` declines (etcd issue 15220), where consistent reads go to etcd.
/// Nothing writes between the cache's list and its watch, so the server has that watch synced
/// from the start, which is the case the issue leaves correct.
#[cfg(feature = "etcd-tests")]
fn consistent(c: &mut Criterion) {
    use kvstore::etcd::{EtcdBackend, ProgressRequests};

    const MANY: usize = 10_000;
    const BIG: &str = "/bench/consistent";
    let runtime = Runtime::new().unwrap();
    let Ok(etcd) = runtime.block_on(kvstore_testkit::etcd::TestEtcd::start()) else {
        return;
    };
    let (store, cache, big) = runtime.block_on(async {
        let config = etcd.config().progress_requests(ProgressRequests::Enabled);
        let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
        fill(&store).await;
        let writes = (0..MANY).map(|i| {
            let store = store.clone();
            async move {
                let name = format!("ep{i:05}");
                store
                    .create(&format!("{BIG}/{name}"), &endpoint(&name))
                    .await
                    .unwrap();
            }
        });
        futures::stream::iter(writes)
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        let cache = Cache::<Endpoint>::new(&store, PREFIX).unwrap();
        let big = Cache::<Endpoint>::new(&store, BIG).unwrap();
        for cache in [&cache, &big] {
            let now = store.current_resource_version().await.unwrap();
            cache.wait_for(now).await.unwrap();
        }
        (store, cache, big)
    });
    assert_eq!(big.len(), MANY);

    let mut group = c.benchmark_group(format!("consistent_list_{MANY}/etcd"));
    group.sample_size(20);
    group.bench_function("cache", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(big.consistent_list().await.unwrap()) })
    });
    group.bench_function("store", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                store
                    .list::<Endpoint>(BIG, &ListOptions::default())
                    .await
                    .unwrap(),
            )
        })
    });
    group.finish();

    let names = names();
    let mut group = c.benchmark_group("consistent_get/etcd/c64");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cache", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (cache, names) = (&cache, &names);
            common::concurrently(iters, 64, move |i| async move {
                let name = &names[i as usize % OBJECTS];
                black_box(cache.consistent_get(name).await.unwrap());
            })
        })
    });
    group.bench_function("store", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (store, names) = (&store, &names);
            common::concurrently(iters, 64, move |i| async move {
                let key = format!("{PREFIX}/{}", names[i as usize % OBJECTS]);
                black_box(store.get::<Endpoint>(&key).await.unwrap());
            })
        })
    });
    group.finish();
    drop((cache, big));
    drop(etcd);
}

#[cfg(not(feature = "etcd-tests"))]
fn consistent(_: &mut Criterion) {}

#[cfg(not(feature = "etcd-tests"))]
fn etcd(_: &mut Criterion) {}

criterion_group!(benches, memory, index_lookup, etcd, consistent);
criterion_main!(benches);
