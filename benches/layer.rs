//! The typed layer's own cost: a CAS update and a get through `Store` over a backend that
//! answers at once (no storage, no network), beside the JSON encode and decode they contain.
//! What remains is what kvstore adds per operation on top of any backend.
//!
//! ```sh
//! cargo bench --bench layer
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use std::hint::black_box;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use kvstore::backend::{
    Backend, EventStream, KeyValue, Lease, LeaseId, RangeRequest, RangeResponse, Txn, TxnOpResult,
    TxnResponse, WatchRequest,
};
use kvstore::{CodecFor, Error, Json, Result, Store};

use common::{endpoint, Endpoint};

/// Answers every transaction as a successful write and every read with one stored value.
struct Instant {
    value: Bytes,
}

fn unsupported<T>() -> Result<T> {
    Err(Error::InvalidArgument("not part of this bench".to_owned()))
}

#[async_trait]
impl Backend for Instant {
    fn name(&self) -> &'static str {
        "instant"
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        Ok(RangeResponse {
            kvs: vec![KeyValue {
                key: request.key,
                value: self.value.clone(),
                create_revision: 2,
                mod_revision: 5,
                lease: None,
            }],
            more: false,
            revision: 7,
        })
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        Ok(TxnResponse {
            succeeded: true,
            revision: 7,
            results: vec![TxnOpResult::Put; txn.success.len()],
        })
    }
    async fn watch(&self, _: WatchRequest) -> Result<EventStream> {
        unsupported()
    }
    async fn request_progress(&self) -> Result<()> {
        unsupported()
    }
    async fn lease_grant(&self, _: Duration) -> Result<Lease> {
        unsupported()
    }
    async fn lease_renew(&self, _: LeaseId) -> Result<Duration> {
        unsupported()
    }
    async fn lease_revoke(&self, _: LeaseId) -> Result<()> {
        unsupported()
    }
    async fn compact(&self, _: u64) -> Result<()> {
        unsupported()
    }
    async fn current_revision(&self) -> Result<u64> {
        Ok(7)
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let object = endpoint("e");
    let value = Bytes::from(CodecFor::<Endpoint>::encode(&Json, &object).unwrap());
    let store = Store::new(
        Instant {
            value: value.clone(),
        },
        Json,
    );
    let mut versioned = object.clone();
    versioned.metadata.resource_version = Some("5".to_owned());

    let mut group = c.benchmark_group("layer");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("update/kvstore", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(store.update("/bench/e", &versioned).await.unwrap()) })
    });
    group.bench_function("update/encode_only", |b| {
        b.iter(|| black_box(CodecFor::<Endpoint>::encode(&Json, black_box(&object)).unwrap()))
    });
    group.bench_function("get/kvstore", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(store.get::<Endpoint>("/bench/e").await.unwrap()) })
    });
    group.bench_function("get/decode_only", |b| {
        b.iter(|| black_box(CodecFor::<Endpoint>::decode(&Json, black_box(&value)).unwrap()))
    });
    group.finish();
}

criterion_group!(layer_benches, benches);
criterion_main!(layer_benches);
