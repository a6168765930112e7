//! What versions of a kind cost. A get of an object stored as v1 and read as v2 (decoded as
//! v1, converted through the hub) against a get of one stored as v2, on the memory backend and
//! on etcd; then, on etcd, a storage-version migration of `MIGRATE_OBJECTS` objects (100,000)
//! against the loop a user would write without it (list the names, then get and
//! compare-and-swap each), with one object per transaction and with batches.
//!
//! Criterion measures each get on its own; the paired ratios that follow alternate the two
//! sides in blocks of gets, so both see the same conditions (`PAIRED_SECONDS`, default 4). The
//! etcd part needs `--features etcd-tests` (it starts its own etcd, or uses
//! `KVSTORE_ETCD_ENDPOINTS`).
//!
//! ```sh
//! cargo bench --bench versions --features etcd-tests
//! MIGRATE_OBJECTS=10000 cargo bench --bench versions --features etcd-tests -- etcd
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::print_stdout)] // the paired report

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvstore::{Backend, Json, MemoryBackend, Object, ObjectMeta, Scheme, Store};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use common::{endpoint, Endpoint};

/// Objects stored in each version.
const N: usize = 1_000;

/// Version 2 of the benches' `Endpoint`, the hub: a protocol v1 has no field for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Endpoint", api_version = "bench.kvstore/v2")]
struct EndpointV2 {
    metadata: ObjectMeta,
    address: String,
    port: u16,
    weight: u32,
    protocol: String,
}

impl From<Endpoint> for EndpointV2 {
    fn from(v1: Endpoint) -> Self {
        EndpointV2 {
            metadata: v1.metadata,
            address: v1.address,
            port: v1.port,
            weight: v1.weight,
            protocol: "tcp".to_owned(),
        }
    }
}

impl From<EndpointV2> for Endpoint {
    fn from(v2: EndpointV2) -> Self {
        Endpoint {
            metadata: v2.metadata,
            address: v2.address,
            port: v2.port,
            weight: v2.weight,
        }
    }
}

/// `store` knowing both versions, storing v2.
fn storing_v2(store: &Store<Json>) -> Store<Json> {
    let mut scheme = Scheme::new();
    scheme
        .versions::<EndpointV2>()
        .version::<Endpoint>()
        .register()
        .expect("the versions register");
    store.with_scheme(scheme)
}

/// Stores `N` objects as v1 under `/v1` and `N` as v2 under `/v2`.
async fn fill(store: &Store<Json>) {
    let v1 = store.collection::<Endpoint>("/v1").unwrap();
    let v2 = store.collection::<EndpointV2>("/v2").unwrap();
    for i in 0..N {
        let object = endpoint(&format!("e{i}"));
        v1.create(&object).await.unwrap();
        v2.create(&EndpointV2::from(object)).await.unwrap();
    }
}

fn name(i: u64) -> String {
    format!("e{}", i as usize % N)
}

/// Criterion's measurement of both gets, then their paired ratio.
fn gets(c: &mut Criterion, runtime: &Runtime, backend: &str, store: &Store<Json>) {
    let store = storing_v2(store);
    runtime.block_on(fill(&store));
    let mut group = c.benchmark_group(format!("versions/get/{backend}"));
    group
        .sample_size(if backend == "memory" { 50 } else { 10 })
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (id, prefix) in [("stored_as_v2", "/v2"), ("stored_as_v1", "/v1")] {
        let collection = store.collection::<EndpointV2>(prefix).unwrap();
        group.bench_function(id, |b| {
            b.to_async(runtime).iter_custom(|iters| {
                let collection = collection.clone();
                async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(collection.get(&name(i)).await.unwrap());
                    }
                    start.elapsed()
                }
            })
        });
    }
    group.finish();
    paired_gets(runtime, backend, &store);
}

/// Gets of v1-stored objects against v2-stored ones in alternating blocks: the ratio of their
/// times.
fn paired_gets(runtime: &Runtime, backend: &str, store: &Store<Json>) {
    let seconds: u64 = std::env::var("PAIRED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let block = if backend == "memory" { 2_000 } else { 200 };
    let converted = store.collection::<EndpointV2>("/v1").unwrap();
    let native = store.collection::<EndpointV2>("/v2").unwrap();
    let (mut times, mut gets) = ([Duration::ZERO; 2], 0u64);
    runtime.block_on(async {
        let until = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < until {
            for (side, collection) in [&native, &converted].into_iter().enumerate() {
                let start = Instant::now();
                for i in gets..gets + block {
                    black_box(collection.get(&name(i)).await.unwrap());
                }
                times[side] += start.elapsed();
            }
            gets += block;
        }
    });
    let per_get = |time: Duration| time.as_secs_f64() * 1e6 / gets as f64;
    println!(
        "paired {backend} get, {gets} each: stored as v2 {:.2} µs, stored as v1 {:.2} µs: conversion adds {:+.1} %",
        per_get(times[0]),
        per_get(times[1]),
        (times[1].as_secs_f64() / times[0].as_secs_f64() - 1.0) * 100.0
    );
}

fn memory(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let store = Store::new(MemoryBackend::new(), Json);
    gets(c, &runtime, "memory", &store);
}

#[cfg(feature = "etcd-tests")]
fn etcd(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let Ok(etcd) = runtime.block_on(kvstore_testkit::etcd::TestEtcd::start()) else {
        return;
    };
    let backend = runtime.block_on(etcd.backend());
    let store = Store::new(backend, Json);
    gets(c, &runtime, "etcd", &store);
    runtime.block_on(migration(&store));
}

#[cfg(not(feature = "etcd-tests"))]
fn etcd(_: &mut Criterion) {}

/// Stores `n` v1 objects under `prefix`, many per transaction (`store` knowing v1 alone).
#[cfg_attr(not(feature = "etcd-tests"), allow(dead_code))]
async fn fill_v1(store: &Store<Json>, prefix: &str, n: usize) {
    use kvstore::backend::{PutLease, Txn, TxnOp};
    for chunk in (0..n).collect::<Vec<_>>().chunks(kvstore::MAX_TXN_OPS) {
        let mut txn = Txn::when([]);
        for i in chunk {
            let key = format!("{prefix}/e{i:06}");
            let value = store
                .encode_value(&key, &endpoint(&format!("e{i:06}")))
                .unwrap();
            txn = txn.then(TxnOp::put(key, value, PutLease::Detach));
        }
        store.backend().txn(txn).await.unwrap();
    }
}

/// The three ways to rewrite `MIGRATE_OBJECTS` v1 objects as v2, each on its own objects.
#[cfg_attr(not(feature = "etcd-tests"), allow(dead_code))]
async fn migration(store: &Store<Json>) {
    use std::ops::ControlFlow;

    use kvstore::{ListOptions, MigrateOptions};
    let n: usize = std::env::var("MIGRATE_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let (plain, store) = (store, storing_v2(store));
    let mut times = Vec::new();
    for side in ["get+CAS loop", "migrate, batch 1", "migrate, batch 128"] {
        let prefix = format!("/migrate/{}", times.len());
        fill_v1(plain, &prefix, n).await;
        let collection = store.collection::<EndpointV2>(&prefix).unwrap();
        let start = Instant::now();
        match side {
            "get+CAS loop" => {
                let mut options = ListOptions::limit(500);
                loop {
                    let page = collection.list(&options).await.unwrap();
                    for listed in &page.items {
                        let object = collection.get(&listed.metadata.name).await.unwrap();
                        collection.update(&object).await.unwrap();
                    }
                    match page.continue_token() {
                        Some(token) => options = ListOptions::limit(500).continue_from(token),
                        None => break,
                    }
                }
            }
            _ => {
                let batch = if side.ends_with("128") { 128 } else { 1 };
                let options = MigrateOptions {
                    batch,
                    ..MigrateOptions::default()
                };
                let done = collection
                    .migrate(&options, |_| ControlFlow::Continue(()))
                    .await
                    .unwrap();
                assert_eq!(done.migrated, n as u64);
            }
        }
        let elapsed = start.elapsed();
        println!(
            "etcd migration of {n} objects, {side}: {:.1} s ({:.0} objects/s)",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
        times.push(elapsed);
        let revision = store.backend().current_revision().await.unwrap();
        store.backend().compact(revision).await.unwrap();
    }
    println!(
        "migrate against the loop: batch 1 {:.2}x, batch 128 {:.2}x",
        times[0].as_secs_f64() / times[1].as_secs_f64(),
        times[0].as_secs_f64() / times[2].as_secs_f64()
    );
}

criterion_group!(benches, memory, etcd);
criterion_main!(benches);
