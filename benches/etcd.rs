//! kvstore over etcd against raw `etcd-client` doing the same work, side by side in one run:
//! the same value bytes (serialized and parsed by the same JSON code), the same transactions,
//! the same concurrency. Needs `--features etcd-tests` (it starts its own etcd,
//! or uses `KVSTORE_ETCD_ENDPOINTS`); without it this bench does nothing.
//!
//! Criterion measures each side on its own. Because a shared machine drifts between two such
//! measurements, the bench then prints *paired* ratios: the two sides alternate in blocks of
//! operations, so both see the same conditions. `PAIRED_CASES=update/c64,create/c64` limits
//! the paired runs to those cases and `PAIRED_SECONDS` sets how long each runs (4); a
//! criterion filter that matches nothing skips the criterion part.
//!
//! ```sh
//! cargo bench --bench etcd --features etcd-tests
//! PAIRED_CASES=update/c1 PAIRED_SECONDS=30 cargo bench --bench etcd --features etcd-tests -- paired-only
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(feature = "etcd-tests")]
mod etcd {
    #![allow(clippy::print_stdout)] // the paired report

    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use criterion::{Criterion, Throughput};
    use kvstore::etcd::etcd_client::{
        Client, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp,
        TxnOpResponse,
    };
    use kvstore::{CodecFor, EtcdBackend, Json, ListOptions, Preconditions, Store};
    use kvstore_testkit::etcd::TestEtcd;
    use tokio::runtime::Runtime;

    use super::common::{concurrently, endpoint, Endpoint};

    /// Objects under the get and update prefixes.
    const N: usize = 1_000;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Op {
        Create,
        Get,
        Update,
        Delete,
        List(usize),
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Side {
        Kvstore,
        /// kvstore with concurrent writes sharing requests (`EtcdConfig::batch_writes`).
        Batched,
        Raw,
    }

    struct Setup {
        runtime: Runtime,
        store: Store<Json>,
        batched: Store<Json>,
        raw: Client,
        /// The current revision of each object under /bench/update.
        revisions: Vec<AtomicU64>,
        _etcd: TestEtcd,
    }

    // The raw side stores exactly the bytes kvstore stores (the JSON codec's output, with
    // apiVersion and kind) and parses them with the same code.
    fn decode(bytes: &[u8]) -> Endpoint {
        CodecFor::<Endpoint>::decode(&Json, bytes).expect("a stored endpoint")
    }

    fn encode(object: &Endpoint) -> Vec<u8> {
        Json.encode(object).expect("an endpoint encodes")
    }

    static FRESH: AtomicU64 = AtomicU64::new(0);

    /// A prefix never used before.
    fn fresh(what: &str) -> String {
        format!("/bench/{what}/{}", FRESH.fetch_add(1, Ordering::Relaxed))
    }

    fn name(i: u64) -> String {
        format!("e{:05}", i as usize % N.max(1))
    }

    /// Creates `n` objects under `prefix`, returning their revisions.
    async fn fill(store: &Store<Json>, prefix: &str, n: usize) -> Vec<u64> {
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

    /// What an operation needs prepared (untimed): objects to delete, a prefix to create in.
    struct Batch {
        prefix: String,
        revisions: Vec<u64>,
    }

    async fn prepare(s: &Setup, op: Op, n: usize) -> Batch {
        match op {
            Op::Delete => {
                let prefix = fresh("delete");
                let revisions = fill(&s.store, &prefix, n).await;
                Batch { prefix, revisions }
            }
            _ => Batch {
                prefix: fresh("create"),
                revisions: Vec::new(),
            },
        }
    }

    /// Runs operation `i` of `op` on one side.
    async fn run(s: &Setup, op: Op, side: Side, i: u64, batch: &Batch) {
        let store = if side == Side::Batched {
            &s.batched
        } else {
            &s.store
        };
        match (op, side) {
            (Op::Create, Side::Kvstore | Side::Batched) => {
                let key = format!("{}/{i}", batch.prefix);
                black_box(store.create(&key, &endpoint("e")).await.unwrap());
            }
            (Op::Create, Side::Raw) => {
                let key = format!("{}/{i}", batch.prefix);
                // The same object kvstore stores: with a fresh uid and creation timestamp.
                let mut object = endpoint("e");
                object.metadata.uid = Some(uuid::Uuid::new_v4());
                object.metadata.creation_timestamp = Some(chrono::Utc::now());
                let txn = Txn::new()
                    .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key, encode(&object), None)]);
                assert!(s.raw.kv_client().txn(txn).await.unwrap().succeeded());
            }
            (Op::Get, Side::Kvstore | Side::Batched) => {
                let key = format!("/bench/get/{}", name(i));
                black_box(store.get::<Endpoint>(&key).await.unwrap());
            }
            (Op::Get, Side::Raw) => {
                let key = format!("/bench/get/{}", name(i));
                let response = s.raw.kv_client().get(key, None).await.unwrap();
                black_box(decode(response.kvs()[0].value()));
            }
            (Op::Update, side) => {
                let slot = &s.revisions[i as usize % N];
                let mut object = endpoint(&name(i));
                object.weight = i as u32;
                let key = format!("/bench/update/{}", name(i));
                let revision = match side {
                    Side::Kvstore | Side::Batched => {
                        object.metadata.resource_version =
                            Some(slot.load(Ordering::SeqCst).to_string());
                        let written = store.update(&key, &object).await.unwrap();
                        written.metadata.resource_version.unwrap().parse().unwrap()
                    }
                    Side::Raw => {
                        let at = slot.load(Ordering::SeqCst) as i64;
                        // Like kvstore's update, the write keeps the key's lease.
                        let keep_lease = PutOptions::new().with_ignore_lease();
                        let txn = Txn::new()
                            .when([Compare::mod_revision(key.clone(), CompareOp::Equal, at)])
                            .and_then([TxnOp::put(key.clone(), encode(&object), Some(keep_lease))])
                            .or_else([TxnOp::get(key, None)]);
                        let response = s.raw.kv_client().txn(txn).await.unwrap();
                        assert!(response.succeeded());
                        response.header().unwrap().revision() as u64
                    }
                };
                slot.store(revision, Ordering::SeqCst);
            }
            // A delete at the revision the caller read, returning the object.
            (Op::Delete, Side::Kvstore | Side::Batched) => {
                let key = format!("{}/e{i:05}", batch.prefix);
                let at = Preconditions::resource_version(
                    kvstore::ResourceVersion::new(batch.revisions[i as usize]).unwrap(),
                );
                black_box(store.delete::<Endpoint>(&key, &at).await.unwrap());
            }
            (Op::Delete, Side::Raw) => {
                let key = format!("{}/e{i:05}", batch.prefix);
                let at = batch.revisions[i as usize] as i64;
                let txn = Txn::new()
                    .when([Compare::mod_revision(key.clone(), CompareOp::Equal, at)])
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
            }
            (Op::List(n), Side::Kvstore | Side::Batched) => {
                let list = store
                    .list::<Endpoint>(&format!("/bench/list{n}"), &ListOptions::default())
                    .await
                    .unwrap();
                assert_eq!(list.items.len(), n);
            }
            (Op::List(n), Side::Raw) => {
                let options = GetOptions::new().with_range(format!("/bench/list{n}0"));
                let response = s
                    .raw
                    .kv_client()
                    .get(format!("/bench/list{n}/"), Some(options))
                    .await
                    .unwrap();
                let objects: Vec<Endpoint> =
                    response.kvs().iter().map(|kv| decode(kv.value())).collect();
                assert_eq!(objects.len(), n);
            }
        }
    }

    /// `count` operations of `op` on one side with `concurrency` in flight; the time taken.
    async fn timed(s: &Setup, op: Op, side: Side, count: u64, concurrency: usize) -> Duration {
        timed_with_cpu(s, op, side, count, concurrency).await.0
    }

    /// [`timed`], and the CPU time this process spent meanwhile (the client's own cost; the
    /// etcd server is another process).
    async fn timed_with_cpu(
        s: &Setup,
        op: Op,
        side: Side,
        count: u64,
        concurrency: usize,
    ) -> (Duration, Duration) {
        let batch = prepare(s, op, count as usize).await;
        let batch = &batch;
        let cpu = process_cpu();
        let wall = concurrently(count, concurrency, |i| run(s, op, side, i, batch)).await;
        (wall, process_cpu().saturating_sub(cpu))
    }

    /// User + system CPU time of this process so far (from /proc; zero elsewhere).
    fn process_cpu() -> Duration {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // The fields after the command name (which is in parentheses and may hold spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; 100 Hz.
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    }

    fn label(op: Op) -> String {
        match op {
            Op::List(n) => format!("list{n}"),
            other => format!("{other:?}").to_lowercase(),
        }
    }

    /// The operations and concurrencies measured, with each side's target share of raw.
    const CASES: [(Op, usize); 15] = [
        (Op::Create, 1),
        (Op::Create, 2),
        (Op::Create, 4),
        (Op::Create, 64),
        (Op::Get, 1),
        (Op::Get, 64),
        (Op::Update, 1),
        (Op::Update, 2),
        (Op::Update, 4),
        (Op::Update, 64),
        (Op::Delete, 1),
        (Op::Delete, 64),
        (Op::List(1_000), 1),
        (Op::List(1_000), 64),
        (Op::List(10_000), 1),
    ];

    pub fn benches(c: &mut Criterion) {
        let runtime = Runtime::new().unwrap();
        let Ok(etcd) = runtime.block_on(TestEtcd::start()) else {
            return;
        };
        let (store, batched, raw) = runtime.block_on(async {
            let store = Store::new(etcd.backend().await, Json);
            let batching = etcd.config().batch_writes(true);
            let batched = Store::new(EtcdBackend::connect(batching).await.unwrap(), Json);
            let raw = Client::connect(etcd.config().endpoints(), None)
                .await
                .unwrap();
            (store, batched, raw)
        });
        let revisions = runtime.block_on(async {
            fill(&store, "/bench/get", N).await;
            for n in [1_000, 10_000] {
                fill(&store, &format!("/bench/list{n}"), n).await;
            }
            fill(&store, "/bench/update", N).await
        });
        let s = Setup {
            runtime,
            store,
            batched,
            raw,
            revisions: revisions.into_iter().map(AtomicU64::new).collect(),
            _etcd: etcd,
        };
        for (op, concurrency) in CASES {
            let mut group = c.benchmark_group(format!("etcd/{}/c{concurrency}", label(op)));
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(3))
                .throughput(Throughput::Elements(match op {
                    Op::List(n) => n as u64,
                    _ => 1,
                }));
            let writes = matches!(op, Op::Create | Op::Update);
            let sides = [
                (Side::Kvstore, "kvstore"),
                (Side::Raw, "raw"),
                (Side::Batched, "batched"),
            ];
            for (side, id) in sides
                .into_iter()
                .filter(|(side, _)| writes || *side != Side::Batched)
            {
                group.bench_function(id, |b| {
                    b.to_async(&s.runtime)
                        .iter_custom(|iters| timed(&s, op, side, iters, concurrency))
                });
            }
            group.finish();
        }
        paired(&s);
    }

    /// Alternates the two sides in blocks for a few seconds per case and prints the ratio of
    /// their throughputs.
    fn paired(s: &Setup) {
        println!("\npaired kvstore/raw throughput (blocks alternate, same conditions):");
        let seconds = super::common::paired_seconds();
        for (op, concurrency) in CASES {
            let case = format!("{}/c{concurrency}", label(op));
            if !super::common::paired_case_selected(&case) {
                continue;
            }
            let block: u64 = match op {
                Op::List(n) => (20_000 / n as u64).max(2) * concurrency as u64,
                _ => 200.max(4 * concurrency as u64),
            };
            let writes = matches!(op, Op::Create | Op::Update);
            let sides = [(Side::Kvstore, "kvstore"), (Side::Batched, "batched")];
            for (ours_side, id) in sides
                .into_iter()
                .filter(|(side, _)| writes || *side == Side::Kvstore)
            {
                paired_case(
                    s,
                    op,
                    concurrency,
                    ours_side,
                    block,
                    seconds,
                    &format!("{case}: {id}"),
                );
            }
        }
    }

    /// One paired case: `ours` against raw, alternating blocks of `block` operations.
    fn paired_case(
        s: &Setup,
        op: Op,
        concurrency: usize,
        ours_side: Side,
        block: u64,
        seconds: u64,
        label: &str,
    ) {
        let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
        let (mut ours_cpu, mut theirs_cpu) = (Duration::ZERO, Duration::ZERO);
        let round = super::common::alternate(seconds, |is_ours| {
            let side = if is_ours { ours_side } else { Side::Raw };
            let (took, cpu) = s
                .runtime
                .block_on(timed_with_cpu(s, op, side, block, concurrency));
            if is_ours {
                ours += took;
                ours_cpu += cpu;
            } else {
                theirs += took;
                theirs_cpu += cpu;
            }
        });
        let ops = round * block;
        let per_op = |cpu: Duration| cpu.as_secs_f64() * 1e6 / ops as f64;
        println!(
            "paired etcd/{label}/raw = {:.1}% ({round} rounds of {block}); \
             client CPU per operation: ours {:.1} µs, raw {:.1} µs",
            100.0 * theirs.as_secs_f64() / ours.as_secs_f64(),
            per_op(ours_cpu),
            per_op(theirs_cpu),
        );
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
