//! Watch fan-out: one writer, 1, 10 and 100 typed watchers of its prefix. The writer runs on
//! a runtime (thread) of its own and the watchers on another, so that, when the machine gives
//! each a core, the writer's time measures what fan-out costs it, not how the two share one. Criterion measures what a write costs
//! the writer with the watchers attached (wall time); a report after it gives the writer's own
//! CPU time per write (which time-sharing a core with the watchers does not inflate), events
//! per second delivered to all watchers and the latency from a write being acknowledged to
//! its event arriving (p50, p99). Memory backend always, etcd with `--features etcd-tests`:
//! once with the default shared watches (one etcd watch for all watchers of the prefix) and
//! once with an etcd watch per watcher (`etcd-unshared`).
//!
//! ```sh
//! cargo bench --bench watch --features etcd-tests
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::print_stdout)] // the latency report

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use kvstore::{Json, MemoryBackend, Store, WatchFrom};
use tokio::runtime::{Handle, Runtime};

use common::{endpoint, Endpoint};

const FAN_OUT: [usize; 3] = [1, 10, 100];
/// Writes in the latency report.
const REPORT_WRITES: usize = 1_000;

/// Watchers of `prefix`, each recording, for every event, the write it reports (the object's
/// `weight`) and when it arrived (since `epoch`).
struct Watchers {
    tasks: Vec<tokio::task::JoinHandle<Vec<(usize, Duration)>>>,
}

impl Watchers {
    /// Waits for every watcher; the latency of each event from its write's acknowledgement
    /// (`acks[write]`, since the epoch; 0 when the event arrived first).
    async fn latencies(self, acks: &[Duration]) -> Vec<Duration> {
        let mut latencies = Vec::new();
        for task in self.tasks {
            for (write, arrived) in task.await.unwrap() {
                latencies.push(arrived.saturating_sub(acks[write]));
            }
        }
        latencies
    }
}

async fn watchers(
    on: &Handle,
    store: &Store<Json>,
    prefix: &str,
    count: usize,
    expect: usize,
    epoch: Instant,
) -> Watchers {
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..count {
        let (store, prefix) = (store.clone(), prefix.to_owned());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        ready.push(ready_rx);
        tasks.push(on.spawn(async move {
            let mut events = store
                .watch_prefix::<Endpoint>(&prefix, WatchFrom::Now)
                .await
                .unwrap();
            let _ = ready_tx.send(());
            let mut arrivals = Vec::with_capacity(expect);
            while arrivals.len() < expect {
                let Some(Ok(event)) = events.next().await else {
                    break;
                };
                let write = event.object().map_or(0, |o| o.weight as usize);
                arrivals.push((write, epoch.elapsed()));
            }
            arrivals
        }));
    }
    for ready in ready {
        ready.await.unwrap();
    }
    Watchers { tasks }
}

/// One measurement: an object under a fresh `prefix`, and `count` watchers of the prefix.
struct Run {
    prefix: String,
    epoch: Instant,
    watchers: Watchers,
}

impl Run {
    /// Creates the object and starts the watchers (on `on`), each expecting `writes` events.
    async fn start(
        on: &Handle,
        store: &Store<Json>,
        prefix: String,
        count: usize,
        writes: usize,
    ) -> Self {
        store
            .create(&format!("{prefix}/e"), &endpoint("e"))
            .await
            .unwrap();
        let epoch = Instant::now();
        let watchers = watchers(on, store, &prefix, count, writes, epoch).await;
        Run {
            prefix,
            epoch,
            watchers,
        }
    }

    /// Writes the object `n` times (write `i` with weight `i`); when each write was
    /// acknowledged, since the epoch.
    async fn write(&self, store: &Store<Json>, n: usize) -> Vec<Duration> {
        let mut acks = Vec::with_capacity(n);
        for i in 0..n {
            let mut object = endpoint("e");
            object.weight = i as u32;
            store
                .update_unconditionally(&format!("{}/e", self.prefix), &object)
                .await
                .unwrap();
            acks.push(self.epoch.elapsed());
        }
        acks
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Events per second delivered and latency percentiles with `count` watchers.
fn report(runtime: &Runtime, on: &Handle, store: &Store<Json>, backend: &str, count: usize) {
    let prefix = format!("/bench/watch-report-{backend}-{count}");
    let (writer, writer_cpu, delivered) = runtime.block_on(async {
        let run = Run::start(on, store, prefix, count, REPORT_WRITES).await;
        let start = Instant::now();
        // The writer's runtime runs on this thread only: its CPU time is the writer's work,
        // whether or not the machine gave it a core of its own meanwhile.
        let cpu = cpu_time::ThreadTime::now();
        let acks = run.write(store, REPORT_WRITES).await;
        let writer_cpu = cpu.elapsed();
        let writer = start.elapsed();
        let latencies = run.watchers.latencies(&acks).await;
        (writer, writer_cpu, (start.elapsed(), latencies))
    });
    let (all_delivered, mut latencies) = delivered;
    latencies.sort();
    println!(
        "watch/{backend}/{count} watchers: writer {:.0} writes/s, writer CPU {:.2} µs/write, \
         {:.0} events/s delivered, latency p50 {:?} p99 {:?}",
        REPORT_WRITES as f64 / writer.as_secs_f64(),
        writer_cpu.as_secs_f64() * 1e6 / REPORT_WRITES as f64,
        latencies.len() as f64 / all_delivered.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}

/// What a write costs the writer with `count` watchers consuming its events.
fn writer_cost(
    c: &mut Criterion,
    runtime: &Runtime,
    on: &Handle,
    store: &Store<Json>,
    backend: &str,
) {
    let mut group = c.benchmark_group(format!("watch/{backend}/writer"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for count in FAN_OUT {
        group.bench_function(format!("{count}_watchers"), |b| {
            b.to_async(runtime).iter_custom(|iters| async move {
                let prefix = format!("/bench/watch-{count}-{}", fastrand_id());
                let n = iters as usize;
                let run = Run::start(on, store, prefix, count, n).await;
                let start = Instant::now();
                let acks = run.write(store, n).await;
                let elapsed = start.elapsed();
                black_box(run.watchers.latencies(&acks).await);
                elapsed
            })
        });
    }
    group.finish();
    for count in FAN_OUT {
        report(runtime, on, store, backend, count);
    }
}

fn fastrand_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The writer's runtime (this thread) and the watchers' (one thread of their own).
fn runtimes() -> (Runtime, Runtime) {
    let writer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let watchers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    (writer, watchers)
}

fn memory(c: &mut Criterion) {
    let (runtime, watchers) = runtimes();
    // History deep enough that no watcher falls behind it during a measurement.
    let store = Store::new(MemoryBackend::with_history(1_000_000), Json);
    writer_cost(c, &runtime, watchers.handle(), &store, "memory");
}

#[cfg(feature = "etcd-tests")]
fn etcd(c: &mut Criterion) {
    let (runtime, watchers) = runtimes();
    let Ok(etcd) = runtime.block_on(kvstore_testkit::etcd::TestEtcd::start()) else {
        return;
    };
    let store = runtime.block_on(async { Store::new(etcd.backend().await, Json) });
    writer_cost(c, &runtime, watchers.handle(), &store, "etcd");
    // The same with an etcd watch per watcher, for comparison with the shared watches above.
    let config = etcd.config().share_watches(false);
    let unshared = runtime
        .block_on(async { Store::new(kvstore::EtcdBackend::connect(config).await.unwrap(), Json) });
    writer_cost(c, &runtime, watchers.handle(), &unshared, "etcd-unshared");
    drop(etcd);
}

#[cfg(not(feature = "etcd-tests"))]
fn etcd(_: &mut Criterion) {}

criterion_group!(watch_benches, memory, etcd);
criterion_main!(watch_benches);
