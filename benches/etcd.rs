//! kvstore over etcd against raw `etcd-client` doing the same work, side by side in one run:
//! the same JSON objects (serialized and parsed with serde_json in both), the same
//! transactions, the same concurrency. Needs `--features etcd-tests` (it starts its own etcd,
//! or uses `KVSTORE_ETCD_ENDPOINTS`); without it this bench does nothing.
//!
//! ```sh
//! cargo bench --bench etcd --features etcd-tests
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(feature = "etcd-tests")]
mod etcd {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use criterion::{BenchmarkGroup, Criterion, Throughput};
    use kvstore::etcd::etcd_client::{
        Client, Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp, TxnOpResponse,
    };
    use kvstore::etcd::testing::TestEtcd;
    use kvstore::{Json, ListOptions, Preconditions, Store};
    use tokio::runtime::Runtime;

    use super::common::{concurrently, endpoint, Endpoint};

    struct Setup {
        runtime: Runtime,
        store: Store<Json>,
        raw: Client,
        _etcd: TestEtcd,
    }

    fn decode(bytes: &[u8]) -> Endpoint {
        serde_json::from_slice(bytes).expect("a stored endpoint")
    }

    fn encode(object: &Endpoint) -> Vec<u8> {
        serde_json::to_vec(object).expect("an endpoint encodes")
    }

    /// Keys never used before, for creates.
    static FRESH: AtomicU64 = AtomicU64::new(0);

    fn fresh_key(what: &str) -> String {
        format!("/bench/{what}/{}", FRESH.fetch_add(1, Ordering::Relaxed))
    }

    async fn fill(store: &Store<Json>, prefix: &str, n: usize) -> Vec<u64> {
        store.delete_prefix(prefix).await.unwrap();
        let mut revisions = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            let writes = chunk.iter().map(|i| {
                let name = format!("e{i:05}");
                let key = format!("{prefix}/{name}");
                async move { store.create(&key, &endpoint(&name)).await.unwrap() }
            });
            for created in futures::future::join_all(writes).await {
                revisions.push(created.metadata.resource_version.unwrap().parse().unwrap());
            }
        }
        revisions
    }

    fn group<'a>(
        c: &'a mut Criterion,
        name: &str,
    ) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(1));
        group
    }

    pub fn benches(c: &mut Criterion) {
        let runtime = Runtime::new().unwrap();
        let Ok(etcd) = runtime.block_on(TestEtcd::start()) else {
            return;
        };
        let (store, raw) = runtime.block_on(async {
            let store = Store::new(etcd.backend().await, Json);
            let raw = Client::connect(etcd.config().endpoints(), None)
                .await
                .unwrap();
            (store, raw)
        });
        let setup = Setup {
            runtime,
            store,
            raw,
            _etcd: etcd,
        };
        for concurrency in [1, 64] {
            create(c, &setup, concurrency);
            get(c, &setup, concurrency);
            update(c, &setup, concurrency);
            delete(c, &setup, concurrency);
        }
        list(c, &setup, 1_000, 1);
        list(c, &setup, 1_000, 64);
        list(c, &setup, 10_000, 1);
    }

    fn create(c: &mut Criterion, s: &Setup, concurrency: usize) {
        let mut g = group(c, &format!("etcd/create/c{concurrency}"));
        g.bench_function("kvstore", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                concurrently(iters, concurrency, |_| async {
                    let key = fresh_key("create");
                    black_box(s.store.create(&key, &endpoint("e")).await.unwrap());
                })
                .await
            })
        });
        g.bench_function("raw", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                concurrently(iters, concurrency, |_| async {
                    let key = fresh_key("create");
                    let txn = Txn::new()
                        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(key, encode(&endpoint("e")), None)]);
                    let response = s.raw.kv_client().txn(txn).await.unwrap();
                    assert!(response.succeeded());
                })
                .await
            })
        });
        g.finish();
    }

    fn get(c: &mut Criterion, s: &Setup, concurrency: usize) {
        const N: usize = 1_000;
        s.runtime.block_on(fill(&s.store, "/bench/get", N));
        let key = |i: u64| format!("/bench/get/e{:05}", i as usize % N);
        let mut g = group(c, &format!("etcd/get/c{concurrency}"));
        g.bench_function("kvstore", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                concurrently(iters, concurrency, |i| async move {
                    black_box(s.store.get::<Endpoint>(&key(i)).await.unwrap());
                })
                .await
            })
        });
        g.bench_function("raw", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                concurrently(iters, concurrency, |i| async move {
                    let response = s.raw.kv_client().get(key(i), None).await.unwrap();
                    black_box(decode(response.kvs()[0].value()));
                })
                .await
            })
        });
        g.finish();
    }

    fn update(c: &mut Criterion, s: &Setup, concurrency: usize) {
        const N: usize = 1_000;
        let revisions = s.runtime.block_on(fill(&s.store, "/bench/update", N));
        let revisions: Arc<Vec<AtomicU64>> =
            Arc::new(revisions.into_iter().map(AtomicU64::new).collect());
        let name = |i: u64| format!("e{:05}", i as usize % N);
        let mut g = group(c, &format!("etcd/update/c{concurrency}"));
        g.bench_function("kvstore", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| {
                let revisions = Arc::clone(&revisions);
                async move {
                    concurrently(iters, concurrency, |i| {
                        let revisions = Arc::clone(&revisions);
                        async move {
                            let slot = &revisions[i as usize % N];
                            let mut object = endpoint(&name(i));
                            object.weight = i as u32;
                            object.metadata.resource_version =
                                Some(slot.load(Ordering::SeqCst).to_string());
                            let key = format!("/bench/update/{}", name(i));
                            let written = s.store.update(&key, &object).await.unwrap();
                            let rv = written.metadata.resource_version.unwrap();
                            slot.store(rv.parse().unwrap(), Ordering::SeqCst);
                        }
                    })
                    .await
                }
            })
        });
        g.bench_function("raw", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| {
                let revisions = Arc::clone(&revisions);
                async move {
                    concurrently(iters, concurrency, |i| {
                        let revisions = Arc::clone(&revisions);
                        async move {
                            let slot = &revisions[i as usize % N];
                            let mut object = endpoint(&name(i));
                            object.weight = i as u32;
                            let key = format!("/bench/update/{}", name(i));
                            let txn = Txn::new()
                                .when([Compare::mod_revision(
                                    key.clone(),
                                    CompareOp::Equal,
                                    slot.load(Ordering::SeqCst) as i64,
                                )])
                                .and_then([TxnOp::put(key.clone(), encode(&object), None)])
                                .or_else([TxnOp::get(key, None)]);
                            let response = s.raw.kv_client().txn(txn).await.unwrap();
                            assert!(response.succeeded());
                            let revision = response.header().unwrap().revision();
                            slot.store(revision as u64, Ordering::SeqCst);
                        }
                    })
                    .await
                }
            })
        });
        g.finish();
    }

    /// Deletes at the revision the caller read (one round trip in both), returning the object.
    fn delete(c: &mut Criterion, s: &Setup, concurrency: usize) {
        let mut g = group(c, &format!("etcd/delete/c{concurrency}"));
        g.bench_function("kvstore", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                let prefix = fresh_key("delete");
                let revisions = fill(&s.store, &prefix, iters as usize).await;
                let revisions = &revisions;
                let prefix = &prefix;
                concurrently(iters, concurrency, |i| async move {
                    let key = format!("{prefix}/e{i:05}");
                    let at = Preconditions::resource_version(revisions[i as usize].to_string());
                    black_box(s.store.delete::<Endpoint>(&key, &at).await.unwrap());
                })
                .await
            })
        });
        g.bench_function("raw", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                let prefix = fresh_key("delete");
                let revisions = fill(&s.store, &prefix, iters as usize).await;
                let revisions = &revisions;
                let prefix = &prefix;
                concurrently(iters, concurrency, |i| async move {
                    let key = format!("{prefix}/e{i:05}");
                    let txn = Txn::new()
                        .when([Compare::mod_revision(
                            key.clone(),
                            CompareOp::Equal,
                            revisions[i as usize] as i64,
                        )])
                        .and_then([TxnOp::delete(
                            key.clone(),
                            Some(DeleteOptions::new().with_prev_key()),
                        )])
                        .or_else([TxnOp::get(key, None)]);
                    let response = s.raw.kv_client().txn(txn).await.unwrap();
                    assert!(response.succeeded());
                    if let Some(TxnOpResponse::Delete(deleted)) =
                        response.op_responses().into_iter().next()
                    {
                        black_box(decode(deleted.prev_kvs()[0].value()));
                    }
                })
                .await
            })
        });
        g.finish();
    }

    fn list(c: &mut Criterion, s: &Setup, n: usize, concurrency: usize) {
        let prefix = format!("/bench/list{n}");
        s.runtime.block_on(fill(&s.store, &prefix, n));
        let mut g = group(c, &format!("etcd/list{n}/c{concurrency}"));
        g.throughput(criterion::Throughput::Elements(n as u64));
        let prefix = &prefix;
        g.bench_function("kvstore", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                concurrently(iters, concurrency, |_| async {
                    let list = s
                        .store
                        .list::<Endpoint>(prefix, &ListOptions::default())
                        .await
                        .unwrap();
                    assert_eq!(list.items.len(), n);
                })
                .await
            })
        });
        g.bench_function("raw", |b| {
            b.to_async(&s.runtime).iter_custom(|iters| async move {
                concurrently(iters, concurrency, |_| async {
                    let options = GetOptions::new().with_range(format!("{prefix}0"));
                    let response = s
                        .raw
                        .kv_client()
                        .get(format!("{prefix}/"), Some(options))
                        .await
                        .unwrap();
                    let objects: Vec<Endpoint> =
                        response.kvs().iter().map(|kv| decode(kv.value())).collect();
                    assert_eq!(objects.len(), n);
                })
                .await
            })
        });
        g.finish();
    }
}

#[cfg(feature = "etcd-tests")]
fn benches(c: &mut Criterion) {
    etcd::benches(c);
}

#[cfg(not(feature = "etcd-tests"))]
fn benches(_: &mut Criterion) {}

criterion_group!(etcd_benches, benches);
criterion_main!(etcd_benches);
