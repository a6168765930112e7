//! The store's metrics in Prometheus' text format: a recorder of the
//! `metrics-exporter-prometheus` crate installed for the process, some calls, a watch and a
//! cache, then what a scrape would read (the table of names is in `kvstore::metrics`).
//!
//! ```sh
//! cargo run --example metrics
//! ```
//!
//! A service would serve `handle.render()` on its `/metrics` endpoint (or let the exporter's
//! own HTTP listener do it, a feature of that crate).

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use kvstore::{Cache, Object, ObjectMeta, WatchFrom};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Counter", api_version = "example.com/v1")]
struct Counter {
    metadata: ObjectMeta,
    value: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(run()).await
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let (store, description) = common::store("metrics").await?;
    println!("store: {description}");
    store.delete_prefix("/counters").await?;
    let counter = Counter {
        metadata: ObjectMeta::named("hits"),
        value: 0,
    };
    store.create("/counters/hits", &counter).await?;
    let _watch = store
        .watch_prefix::<Counter>("/counters", WatchFrom::Now)
        .await?;
    let cache = Cache::<Counter>::new(&store, "/counters")?;
    cache.wait_until_synced().await;
    for _ in 0..5 {
        store
            .guaranteed_update("/counters/hits", |c: &mut Counter| c.value += 1)
            .await?;
    }
    let missing = store.get::<Counter>("/counters/none").await;
    println!("a get of a missing object: {}", missing.unwrap_err());

    println!("what a scrape reads (kvstore_ lines, quantiles left out):");
    for line in handle.render().lines() {
        if line.starts_with("kvstore_") && !line.contains("quantile=") {
            println!("  {line}");
        }
    }
    Ok(())
}
