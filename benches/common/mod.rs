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
