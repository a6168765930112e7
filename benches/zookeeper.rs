//! kvstore over ZooKeeper against raw `zookeeper-client` doing the plain equivalent, side by
//! side in one run on one server: get (`get_data`, and `sync` + `get_data`: the linearizable
//! read kvstore's get is), a possibly stale get (`Backend::get_possibly_stale`, no `sync`:
//! against `get_data`), set with version (read, then `set_data` at
//! the version read; kvstore: `guaranteed_update`, a read and a compare-and-swap), create
//! (`create`), at concurrency 1 and 64, the same JSON bytes on both sides. Needs `--features
//! zookeeper-tests` (it starts its own ZooKeeper, or uses `KVSTORE_ZK_ENDPOINTS`); without it
//! this bench does nothing.
//!
//! Then a list of one prefix of 1,000 objects in a store holding only them, against the same
//! list in a store of 100,000 objects under 100 prefixes (`LIST_PREFIXES` sets how many): a
//! list costs what its prefix holds, not what the store holds.
//!
//! Last, *paired* ratios: kvstore and its baseline (`sync` + `get_data` for get, the raw
//! operation for writes) alternate in blocks, so both see the same conditions on a noisy
//! machine; `PAIRED_CASES` and `PAIRED_SECONDS` choose cases and length, as for etcd.
//!
//! ```sh
//! cargo bench --bench zookeeper --features zookeeper-tests
//! PAIRED_CASES=get/c1 PAIRED_SECONDS=20 cargo bench --bench zookeeper --features zookeeper-tests -- paired-only
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::print_stdout)] // the paired report

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(feature = "zookeeper-tests")]
mod zookeeper {
    use std::hint::black_box;

    use futures::StreamExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use criterion::{Criterion, Throughput};
    use kvstore::zookeeper::zookeeper_client as zk;
    use kvstore::{Json, Store};
    use kvstore_testkit::zookeeper::TestZooKeeper;
    use tokio::runtime::Runtime;

    use super::common::{concurrently, endpoint, Endpoint};

    /// Objects read and updated.
    const N: u64 = 1_000;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Get,
        /// `Backend::get_possibly_stale` (no `sync`) against raw `get_data`.
        StaleGet,
        SetWithVersion,
        Create,
    }

    /// The operations measured, with their names.
    const CASES: [(Op, &str); 4] = [
        (Op::Get, "get"),
        (Op::StaleGet, "get_possibly_stale"),
        (Op::SetWithVersion, "set_with_version"),
        (Op::Create, "create"),
    ];

    struct Setup {
        store: Store<Json>,
        raw: zk::Client,
        raw_root: String,
        fresh: AtomicU64,
    }

    const PERSISTENT: zk::CreateOptions<'static> =
        zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

    fn name(i: u64) -> String {
        format!("e{:05}", i % N)
    }

    async fn setup(server: &TestZooKeeper) -> Setup {
        let store = Store::new(server.backend().await, Json);
        let raw = zk::Client::connect(&server.endpoints().join(","))
            .await
            .expect("raw connect");
        let raw_root = format!("{}-raw", server.root());
        raw.create(&raw_root, &[], &PERSISTENT)
            .await
            .expect("raw root");
        for dir in ["objects", "fresh"] {
            raw.create(&format!("{raw_root}/{dir}"), &[], &PERSISTENT)
                .await
                .expect("raw dir");
        }
        for i in 0..N {
            let object = endpoint(&name(i));
            store
                .create(&format!("/bench/objects/{}", name(i)), &object)
                .await
                .expect("fill");
            let bytes = serde_json::to_vec(&object).expect("encode");
            raw.create(
                &format!("{raw_root}/objects/{}", name(i)),
                &bytes,
                &PERSISTENT,
            )
            .await
            .expect("raw fill");
        }
        Setup {
            store,
            raw,
            raw_root,
            fresh: AtomicU64::new(0),
        }
    }

    async fn kvstore_op(s: &Setup, op: Op, i: u64) {
        let key = format!("/bench/objects/{}", name(i));
        match op {
            Op::Get => {
                black_box(s.store.get::<Endpoint>(&key).await.expect("get"));
            }
            Op::StaleGet => {
                let read = s.store.backend().get_possibly_stale(&key).await;
                let kv = read.expect("get").kvs.pop().expect("found");
                black_box(serde_json::from_slice::<Endpoint>(&kv.value).expect("decode"));
            }
            Op::SetWithVersion => {
                s.store
                    .guaranteed_update(&key, |e: &mut Endpoint| e.weight = e.weight.wrapping_add(1))
                    .await
                    .expect("update");
            }
            Op::Create => {
                let n = s.fresh.fetch_add(1, Ordering::Relaxed);
                let key = format!("/bench/fresh/f{n}");
                s.store
                    .create(&key, &endpoint(&format!("f{n}")))
                    .await
                    .expect("create");
            }
        }
    }

    /// The raw read with the guarantee kvstore's get gives (linearizable): `sync`, then
    /// `get_data`, sent together (one round trip, as kvstore sends its reads).
    async fn raw_linearizable_get(s: &Setup, i: u64) {
        let path = format!("{}/objects/{}", s.raw_root, name(i));
        let (synced, read) = futures::join!(s.raw.sync(&path), s.raw.get_data(&path));
        synced.expect("sync");
        let (data, _) = read.expect("get");
        black_box(serde_json::from_slice::<Endpoint>(&data).expect("decode"));
    }

    async fn raw_op(s: &Setup, op: Op, i: u64) {
        let path = format!("{}/objects/{}", s.raw_root, name(i));
        match op {
            Op::Get | Op::StaleGet => {
                let (data, _) = s.raw.get_data(&path).await.expect("get");
                black_box(serde_json::from_slice::<Endpoint>(&data).expect("decode"));
            }
            Op::SetWithVersion => loop {
                let (data, stat) = s.raw.get_data(&path).await.expect("get");
                let mut object: Endpoint = serde_json::from_slice(&data).expect("decode");
                object.weight = object.weight.wrapping_add(1);
                let bytes = serde_json::to_vec(&object).expect("encode");
                match s.raw.set_data(&path, &bytes, Some(stat.version)).await {
                    Ok(_) => break,
                    Err(zk::Error::BadVersion) => continue,
                    Err(err) => panic!("set: {err}"),
                }
            },
            Op::Create => {
                let n = s.fresh.fetch_add(1, Ordering::Relaxed);
                let bytes = serde_json::to_vec(&endpoint(&format!("f{n}"))).expect("encode");
                s.raw
                    .create(&format!("{}/fresh/f{n}", s.raw_root), &bytes, &PERSISTENT)
                    .await
                    .expect("create");
            }
        }
    }

    /// Objects per prefix in the list benchmark.
    const PER_PREFIX: usize = 1_000;

    /// A store under a root of its own holding `prefixes` prefixes of [`PER_PREFIX`] objects.
    async fn listed_store(server: &TestZooKeeper, prefixes: usize) -> Store<Json> {
        let config = server
            .config()
            .root(format!("{}-list{prefixes}", server.root()));
        let backend = kvstore_testkit::until_answered(|| {
            kvstore::zookeeper::ZooKeeperBackend::connect(config.clone())
        })
        .await;
        let store = Store::new(backend, Json);
        let keys: Vec<String> = (0..prefixes)
            .flat_map(|p| (0..PER_PREFIX).map(move |i| format!("/p{p:03}/e{i:05}")))
            .collect();
        futures::stream::iter(keys)
            .for_each_concurrent(64, |key| {
                let store = store.clone();
                async move {
                    let name = key.rsplit('/').next().unwrap_or_default().to_owned();
                    store.create(&key, &endpoint(&name)).await.expect("fill");
                }
            })
            .await;
        store
    }

    fn list_at_scale(c: &mut Criterion, runtime: &Runtime, server: &TestZooKeeper) {
        let many: usize = std::env::var("LIST_PREFIXES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let alone = runtime.block_on(listed_store(server, 1));
        let crowded = runtime.block_on(listed_store(server, many));
        let mut group = c.benchmark_group(format!("zookeeper/list_{PER_PREFIX}_of"));
        group.throughput(Throughput::Elements(PER_PREFIX as u64));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        let stores = [
            (format!("{PER_PREFIX}"), &alone),
            (format!("{}", many * PER_PREFIX), &crowded),
        ];
        for (size, store) in stores {
            group.bench_function(format!("store_of_{size}"), |b| {
                b.to_async(runtime).iter(|| async {
                    let options = kvstore::ListOptions::default();
                    let page = store
                        .list::<Endpoint>("/p000", &options)
                        .await
                        .expect("list");
                    assert_eq!(black_box(page).items.len(), PER_PREFIX);
                })
            });
        }
        group.finish();
    }

    pub fn benches(c: &mut Criterion) {
        let runtime = Runtime::new().expect("runtime");
        let Ok(server) = runtime.block_on(TestZooKeeper::shared()) else {
            return;
        };
        let s = runtime.block_on(setup(&server));
        for (op, label) in CASES {
            for concurrency in [1usize, 64] {
                let mut group = c.benchmark_group(format!("zookeeper/{label}/c{concurrency}"));
                group.throughput(Throughput::Elements(1));
                group.sample_size(10);
                group.measurement_time(Duration::from_secs(3));
                group.bench_function("kvstore", |b| {
                    b.to_async(&runtime).iter_custom(|iters| {
                        let s = &s;
                        concurrently(iters, concurrency, move |i| kvstore_op(s, op, i))
                    })
                });
                group.bench_function("raw", |b| {
                    b.to_async(&runtime).iter_custom(|iters| {
                        let s = &s;
                        concurrently(iters, concurrency, move |i| raw_op(s, op, i))
                    })
                });
                if let Op::Get = op {
                    group.bench_function("raw_sync", |b| {
                        b.to_async(&runtime).iter_custom(|iters| {
                            let s = &s;
                            concurrently(iters, concurrency, move |i| raw_linearizable_get(s, i))
                        })
                    });
                }
                group.finish();
            }
        }
        list_at_scale(c, &runtime, &server);
        paired(&runtime, &s);
    }

    /// Alternates kvstore and its baseline in blocks for a few seconds per case and prints the
    /// ratio of their throughputs.
    fn paired(runtime: &Runtime, s: &Setup) {
        println!("\npaired kvstore/raw throughput (blocks alternate, same conditions):");
        let seconds = super::common::paired_seconds();
        for (op, label) in CASES {
            for concurrency in [1usize, 64] {
                let case = format!("{label}/c{concurrency}");
                if !super::common::paired_case_selected(&case) {
                    continue;
                }
                let block = 200.max(4 * concurrency as u64);
                let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
                let mut next = 0;
                let rounds = super::common::alternate(seconds, |is_ours| {
                    let first = next;
                    next += block;
                    let took = runtime.block_on(concurrently(block, concurrency, |i| async move {
                        match (is_ours, op) {
                            (true, _) => kvstore_op(s, op, first + i).await,
                            (false, Op::Get) => raw_linearizable_get(s, first + i).await,
                            (false, _) => raw_op(s, op, first + i).await,
                        }
                    }));
                    if is_ours {
                        ours += took;
                    } else {
                        theirs += took;
                    }
                });
                let baseline = if let Op::Get = op { "raw_sync" } else { "raw" };
                println!(
                    "paired zookeeper/{case}: kvstore / {baseline} = {:.1}% ({rounds} rounds of {block})",
                    100.0 * theirs.as_secs_f64() / ours.as_secs_f64(),
                );
            }
        }
    }
}

#[cfg(feature = "zookeeper-tests")]
fn benches(c: &mut Criterion) {
    zookeeper::benches(c);
}
#[cfg(not(feature = "zookeeper-tests"))]
fn benches(_: &mut Criterion) {}

criterion_group!(zookeeper_benches, benches);
criterion_main!(zookeeper_benches);
