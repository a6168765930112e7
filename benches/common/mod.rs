//! What the benches share: the object they store and how they run operations concurrently.

#![allow(dead_code)] // each bench uses its own part

pub mod sql;

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kvstore::{Object, ObjectMeta};
use serde::{Deserialize, Serialize};

/// A small object (about 200 bytes of JSON), like a service endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Endpoint", api_version = "bench.kvstore/v1")]
pub struct Endpoint {
    pub metadata: ObjectMeta,
    pub address: String,
    pub port: u16,
    pub weight: u32,
}

/// The endpoint named `name`.
pub fn endpoint(name: &str) -> Endpoint {
    Endpoint {
        metadata: ObjectMeta::named(name).with_label("zone", "a"),
        address: format!("10.0.{}.{}", name.len(), name.len() * 3),
        port: 8080,
        weight: 10,
    }
}

/// Runs `op(0..iters)` with up to `concurrency` in flight; the time it took.
pub async fn concurrently<F, Fut>(iters: u64, concurrency: usize, op: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    futures::stream::iter(0..iters)
        .for_each_concurrent(concurrency, op)
        .await;
    start.elapsed()
}

/// How long each paired case runs, in seconds: `PAIRED_SECONDS`, 4 when unset.
pub fn paired_seconds() -> u64 {
    std::env::var("PAIRED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// Whether paired case `case` (`get/c64`) runs: every case, or those `PAIRED_CASES` lists
/// (`get/c64,create/c1`).
pub fn paired_case_selected(case: &str) -> bool {
    std::env::var("PAIRED_CASES")
        .map(|only| only.split(',').any(|c| c == case))
        .unwrap_or(true)
}

/// Runs two sides in alternating blocks until `seconds` passed and at least four rounds ran,
/// so that both meet the same conditions on a noisy machine: `run(true)` runs a block of ours,
/// `run(false)` one of theirs (which goes first alternates). Returns the rounds run.
pub fn alternate(seconds: u64, mut run: impl FnMut(bool)) -> u64 {
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(seconds) || round < 4 {
        let ours_first = round % 2 == 0;
        run(ours_first);
        run(!ours_first);
        round += 1;
    }
    round
}
