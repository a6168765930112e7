//! What the SQL benches share: the operations, the table of 100,000 objects they run on, and
//! kvstore's side; each bench brings the raw driver's side as a [`Raw`] store.

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use kvstore::backend::RangeRequest;
use kvstore::key::directory_range;
use kvstore::{Json, ListOptions, Store};
use tokio::runtime::Runtime;

use super::{concurrently, endpoint, Endpoint};

/// Objects read and updated; lists read the 1,000 under `/small/` and the 10,000 under `/big/`
/// of a table of 100,000.
pub const N: u64 = 1_000;
pub const BIG: u64 = 10_000;
pub const TOTAL: u64 = 100_000;

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Get,
    Create,
    CasUpdate,
    List1k,
    List10k,
}

/// A hand-written store on the raw driver: a table of key, value and version, the statements
/// such a store issues, one transaction per write.
pub trait Raw: Send + Sync {
    /// `INSERT`s every object, in one transaction.
    fn fill(&self, objects: Vec<(String, Vec<u8>)>) -> impl Future<Output = ()>;
    /// `SELECT value … WHERE key = ?`.
    fn get(&self, key: String) -> impl Future<Output = Vec<u8>>;
    /// `SELECT value, version … WHERE key = ?`.
    fn get_versioned(&self, key: String) -> impl Future<Output = (Vec<u8>, i64)>;
    /// `INSERT … (key, value, 1)`.
    fn create(&self, key: String, value: Vec<u8>) -> impl Future<Output = ()>;
    /// `UPDATE … SET value, version + 1 WHERE key = ? AND version = ?`: whether it wrote.
    fn compare_and_swap(
        &self,
        key: String,
        value: Vec<u8>,
        version: i64,
    ) -> impl Future<Output = bool>;
    /// `SELECT value … WHERE key >= ? AND key < ? ORDER BY key`.
    fn list(&self, start: String, end: String) -> impl Future<Output = Vec<Vec<u8>>>;
}

/// Both sides, filled alike.
pub struct Setup<R> {
    pub store: Store<Json>,
    pub raw: R,
    fresh: AtomicU64,
}

fn key(directory: &str, i: u64) -> String {
    format!("/bench/{directory}/e{i:06}")
}

fn name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or_default()
}

/// Fills both sides with the same 100,000 objects.
pub async fn setup<R: Raw>(store: Store<Json>, raw: R) -> Setup<R> {
    let keys: Vec<String> = (0..TOTAL)
        .map(|i| match i {
            i if i < N => key("small", i),
            i if i < N + BIG => key("big", i),
            i => key("rest", i),
        })
        .collect();
    futures::StreamExt::for_each_concurrent(futures::stream::iter(&keys), 256, |key| {
        let store = &store;
        async move {
            store.create(key, &endpoint(name(key))).await.expect("fill");
        }
    })
    .await;
    // The raw store holds the very bytes kvstore stored (uid, timestamps and all), so that both
    // sides read and decode the same objects.
    let (start, end) = directory_range("/bench");
    let request = RangeRequest {
        key: start,
        range_end: Some(end),
        limit: 0,
        revision: 0,
    };
    let stored = store.backend().range(request).await.expect("read back");
    let objects = stored
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.value.to_vec()))
        .collect();
    raw.fill(objects).await;
    Setup {
        store,
        raw,
        fresh: AtomicU64::new(0),
    }
}

fn listed(op: Op) -> &'static str {
    match op {
        Op::List1k => "small",
        _ => "big",
    }
}

async fn kvstore_op<R>(s: &Setup<R>, op: Op, i: u64) {
    match op {
        Op::Get => {
            let found = s.store.get::<Endpoint>(&key("small", i % N)).await;
            black_box(found.expect("get"));
        }
        Op::Create => {
            let n = s.fresh.fetch_add(1, Ordering::Relaxed);
            let object = endpoint(&format!("f{n}"));
            s.store
                .create(&key("fresh", n), &object)
                .await
                .expect("create");
        }
        Op::CasUpdate => {
            let bump = |e: &mut Endpoint| e.weight = e.weight.wrapping_add(1);
            let updated = s.store.guaranteed_update(&key("small", i % N), bump).await;
            updated.expect("update");
        }
        Op::List1k | Op::List10k => {
            let directory = format!("/bench/{}", listed(op));
            let list = s
                .store
                .list::<Endpoint>(&directory, &ListOptions::default())
                .await;
            black_box(list.expect("list"));
        }
    }
}

async fn raw_op<R: Raw>(s: &Setup<R>, op: Op, i: u64) {
    match op {
        Op::Get => {
            let bytes = s.raw.get(key("small", i % N)).await;
            black_box(serde_json::from_slice::<Endpoint>(&bytes).expect("decode"));
        }
        Op::Create => {
            let n = s.fresh.fetch_add(1, Ordering::Relaxed);
            let bytes = serde_json::to_vec(&endpoint(&format!("f{n}"))).expect("encode");
            s.raw.create(key("fresh", n), bytes).await;
        }
        Op::CasUpdate => loop {
            let key = key("small", i % N);
            let (bytes, version) = s.raw.get_versioned(key.clone()).await;
            let mut object: Endpoint = serde_json::from_slice(&bytes).expect("decode");
            object.weight = object.weight.wrapping_add(1);
            let bytes = serde_json::to_vec(&object).expect("encode");
            if s.raw.compare_and_swap(key, bytes, version).await {
                break;
            }
        },
        Op::List1k | Op::List10k => {
            let directory = listed(op);
            let (start, end) = (
                format!("/bench/{directory}/"),
                format!("/bench/{directory}0"),
            );
            let values = s.raw.list(start, end).await;
            let objects: Vec<Endpoint> = values
                .iter()
                .map(|bytes| serde_json::from_slice(bytes).expect("decode"))
                .collect();
            black_box(objects);
        }
    }
}

/// Every operation.
pub const ALL: &[Op] = &[Op::Get, Op::Create, Op::CasUpdate, Op::List1k, Op::List10k];
/// The writes.
pub const WRITES: &[Op] = &[Op::Create, Op::CasUpdate];

fn label(op: Op) -> &'static str {
    match op {
        Op::Get => "get",
        Op::Create => "create",
        Op::CasUpdate => "cas_update",
        Op::List1k => "list_1k",
        Op::List10k => "list_10k",
    }
}

/// `ops` at concurrency 1 and 64, kvstore then raw, in groups `{store}/{op}/c{n}`.
pub fn side_by_side<R: Raw>(
    c: &mut Criterion,
    store: &str,
    runtime: &Runtime,
    s: &Setup<R>,
    ops: &[Op],
) {
    for &op in ops {
        let label = label(op);
        for concurrency in [1usize, 64] {
            let mut group = c.benchmark_group(format!("{store}/{label}/c{concurrency}"));
            group.throughput(Throughput::Elements(1));
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(3));
            group.bench_function("kvstore", |b| {
                b.to_async(runtime).iter_custom(|iters| {
                    concurrently(iters, concurrency, move |i| kvstore_op(s, op, i))
                })
            });
            group.bench_function("raw", |b| {
                b.to_async(runtime).iter_custom(|iters| {
                    concurrently(iters, concurrency, move |i| raw_op(s, op, i))
                })
            });
            group.finish();
        }
    }
}
