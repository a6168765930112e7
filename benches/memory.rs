//! The memory backend through the typed store, against the floor: a plain
//! `RwLock<BTreeMap<String, Bytes>>` holding the same encoded values, doing the same lookups
//! (and the same JSON decode). At 1,000, 100,000 and 1,000,000 stored objects. Also prints the
//! resident memory per stored object at 1,000,000.
//!
//! Last, what an installed metrics exporter costs a get (alone: `-- metrics-only`).
//!
//! ```sh
//! cargo bench --bench memory
//! PAIRED_SECONDS=20 cargo bench --bench memory -- metrics-only
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::print_stdout)] // the memory report

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use kvstore::{CodecFor, Json, ListOptions, MemoryBackend, Store};
use tokio::runtime::Runtime;

use common::{alternate, endpoint, paired_seconds, Endpoint};

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const PAGE: usize = 100;

fn key(i: usize) -> String {
    format!("/bench/e/{i:07}")
}

/// Pseudo-random indices, so lookups are not served from one warm cache line.
fn spread(i: u64, n: usize) -> usize {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as usize % n
}

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

struct Floor(RwLock<BTreeMap<String, Bytes>>);

impl Floor {
    fn get(&self, key: &str) -> Endpoint {
        let bytes = self.0.read().unwrap().get(key).cloned().unwrap();
        CodecFor::<Endpoint>::decode(&Json, &bytes).unwrap()
    }
}

fn group<'a>(
    c: &'a mut Criterion,
    name: String,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::args().any(|arg| arg == "metrics-only") {
        return metrics_cost(&runtime);
    }
    report_resident_memory(&runtime, SIZES[SIZES.len() - 1]);
    for n in SIZES {
        at_size(c, &runtime, n);
    }
    hot_key(c, &runtime);
    metrics_cost(&runtime);
}

/// What an installed metrics exporter costs a get: blocks of gets of 1,000 stored objects
/// with a Prometheus recorder (the `metrics-exporter-prometheus` crate's) and without one,
/// alternated for `PAIRED_SECONDS` (target: at most 2 % slower).
fn metrics_cost(runtime: &Runtime) {
    const OBJECTS: usize = 1_000;
    const BLOCK: u64 = 20_000;
    let store = Store::new(MemoryBackend::new(), Json);
    runtime.block_on(async {
        for i in 0..OBJECTS {
            store
                .create(&key(i), &endpoint(&format!("e{i}")))
                .await
                .unwrap();
        }
    });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let (mut with, mut without) = (Duration::ZERO, Duration::ZERO);
    let rounds = alternate(paired_seconds(), |recorded| {
        let _installed = recorded.then(|| metrics::set_default_local_recorder(&recorder));
        let started = Instant::now();
        runtime.block_on(async {
            for i in 0..BLOCK {
                let got = store.get::<Endpoint>(&key(spread(i, OBJECTS))).await;
                black_box(got.unwrap());
            }
        });
        match recorded {
            true => with += started.elapsed(),
            false => without += started.elapsed(),
        }
    });
    let gets = rounds * BLOCK;
    println!(
        "memory get with a Prometheus recorder installed: {:.0} ns against {:.0} ns without, \
         {:+.1} % ({rounds} rounds of {BLOCK} gets each way; target at most +2 %)",
        with.as_nanos() as f64 / gets as f64,
        without.as_nanos() as f64 / gets as f64,
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
}

/// Updates of one key, again and again, with the history full (the default 10,000
/// revisions): each write then also compacts the oldest version of the key away, which must
/// not cost a move of every version it keeps. Compare with `memory/update/1000`.
fn hot_key(c: &mut Criterion, runtime: &Runtime) {
    let store = Store::new(MemoryBackend::new(), Json);
    let key = "/bench/hot/e";
    runtime.block_on(async {
        store.create(key, &endpoint("e")).await.unwrap();
        for i in 0..20_000u32 {
            let mut object = endpoint("e");
            object.weight = i;
            store.update_unconditionally(key, &object).await.unwrap();
        }
    });
    let mut g = group(c, "memory/update_hot_key".to_owned());
    g.throughput(Throughput::Elements(1));
    let mut i = 0u32;
    g.bench_function("kvstore", |b| {
        b.to_async(runtime).iter(|| {
            i = i.wrapping_add(1);
            let mut object = endpoint("e");
            object.weight = i;
            let store = &store;
            async move { black_box(store.update_unconditionally(key, &object).await.unwrap()) }
        })
    });
    g.finish();
}

/// Resident bytes per stored object with `n` small objects, measured before anything else
/// has grown the heap.
fn report_resident_memory(runtime: &Runtime, n: usize) {
    let before = resident();
    let store = Store::new(MemoryBackend::new(), Json);
    let mut payload = 0;
    runtime.block_on(async {
        for i in 0..n {
            let created = store
                .create(&key(i), &endpoint(&format!("e{i:07}")))
                .await
                .unwrap();
            if i == 0 {
                payload =
                    CodecFor::<Endpoint>::encode(&Json, &created).unwrap().len() + key(i).len();
            }
        }
    });
    let per_object = resident().saturating_sub(before) as f64 / n as f64;
    println!(
        "memory backend at {n} objects: {per_object:.0} resident bytes per object; \
         encoded value + key = {payload} bytes; ratio {:.2} (target < 3)",
        per_object / payload as f64
    );
}

fn at_size(c: &mut Criterion, runtime: &Runtime, n: usize) {
    let store = Store::new(MemoryBackend::new(), Json);
    runtime.block_on(async {
        for i in 0..n {
            let name = format!("e{i:07}");
            store.create(&key(i), &endpoint(&name)).await.unwrap();
        }
    });
    let floor = Floor(RwLock::new(
        (0..n)
            .map(|i| {
                let object = runtime.block_on(store.get::<Endpoint>(&key(i))).unwrap();
                (
                    key(i),
                    Bytes::from(CodecFor::<Endpoint>::encode(&Json, &object).unwrap()),
                )
            })
            .collect(),
    ));

    let mut g = group(c, format!("memory/get/{n}"));
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("floor_lookup", |b| {
        b.iter(|| {
            i += 1;
            black_box(floor.0.read().unwrap().get(&key(spread(i, n))).cloned())
        })
    });
    g.bench_function("floor_lookup_decode", |b| {
        b.iter(|| {
            i += 1;
            black_box(floor.get(&key(spread(i, n))))
        })
    });
    g.bench_function("kvstore", |b| {
        b.to_async(runtime).iter(|| {
            i += 1;
            let key = key(spread(i, n));
            let store = &store;
            async move { black_box(store.get::<Endpoint>(&key).await.unwrap()) }
        })
    });
    g.finish();

    let fresh = AtomicU64::new(0);
    let mut g = group(c, format!("memory/create/{n}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("floor", |b| {
        b.iter(|| {
            let key = format!("/bench/new-floor/{}", fresh.fetch_add(1, Ordering::Relaxed));
            let value = CodecFor::<Endpoint>::encode(&Json, &endpoint("new")).unwrap();
            floor.0.write().unwrap().insert(key, Bytes::from(value));
        })
    });
    g.bench_function("kvstore", |b| {
        b.to_async(runtime).iter(|| {
            let key = format!("/bench/new/{}", fresh.fetch_add(1, Ordering::Relaxed));
            let store = &store;
            async move { black_box(store.create(&key, &endpoint("new")).await.unwrap()) }
        })
    });
    g.finish();

    let mut g = group(c, format!("memory/update/{n}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("floor", |b| {
        b.iter(|| {
            i += 1;
            let mut object = endpoint("e");
            object.weight = i as u32;
            let value = CodecFor::<Endpoint>::encode(&Json, &object).unwrap();
            floor
                .0
                .write()
                .unwrap()
                .insert(key(spread(i, n)), Bytes::from(value));
        })
    });
    g.bench_function("kvstore", |b| {
        b.to_async(runtime).iter(|| {
            i += 1;
            let key = key(spread(i, n));
            let mut object = endpoint("e");
            object.weight = i as u32;
            let store = &store;
            async move { black_box(store.update_unconditionally(&key, &object).await.unwrap()) }
        })
    });
    g.finish();

    let mut g = group(c, format!("memory/list_page_{PAGE}/{n}"));
    g.throughput(Throughput::Elements(PAGE as u64));
    g.bench_function("floor", |b| {
        b.iter(|| {
            let map = floor.0.read().unwrap();
            let page: Vec<Endpoint> = map
                .range("/bench/e/".to_owned()..)
                .take(PAGE)
                .map(|(_, v)| CodecFor::<Endpoint>::decode(&Json, v).unwrap())
                .collect();
            black_box(page)
        })
    });
    g.bench_function("kvstore", |b| {
        b.to_async(runtime).iter(|| {
            // The first page, as the floor reads it.
            let options = ListOptions::limit(PAGE);
            let store = &store;
            async move { black_box(store.list::<Endpoint>("/bench/e", &options).await.unwrap()) }
        })
    });
    g.finish();
    drop(floor);
    drop(store);
}

criterion_group!(memory_benches, benches);
criterion_main!(memory_benches);
