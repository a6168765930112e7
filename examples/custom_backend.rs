//! A backend of your own: the byte-level `Backend` contract is small (ranges, transactions,
//! watches, leases, compaction), and a backend can also wrap another. This one counts the
//! calls the typed store makes of the store underneath — the shape of a metrics, logging or
//! fault-injection layer — and is registered under a URL scheme of its own, so
//! `kvstore::connect("counting://...")` finds it.
//!
//! A backend over a store of its own is proven by the conformance suite (see kvstore-core's
//! README, "Writing a backend").
//!
//! ```sh
//! cargo run --example custom_backend
//! cargo run --example custom_backend --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use kvstore::backend::{
    Backend, Capabilities, EventStream, RangeRequest, RangeResponse, Txn, TxnResponse, WatchRequest,
};
use kvstore::{Json, Lease, LeaseId, LeaseInfo, Object, ObjectMeta, Result, Store};
use serde::{Deserialize, Serialize};

/// Counts the calls made of `inner`, by name.
struct Counting {
    inner: Arc<dyn Backend>,
    calls: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Counting {
    fn count(&self, call: &'static str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(call)
            .or_default() += 1;
    }
}

#[async_trait]
impl Backend for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    // A layer can do what the store underneath can, with its limits.
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.count("range");
        self.inner.range(request).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.count("txn");
        self.inner.txn(txn).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        self.count("watch");
        self.inner.watch(request).await
    }
    async fn request_progress(&self) -> Result<()> {
        self.inner.request_progress().await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        self.count("lease_grant");
        self.inner.lease_grant(ttl).await
    }
    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.lease_renew(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.lease_revoke(lease).await
    }
    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        self.inner.lease_info(lease).await
    }
    async fn leases(&self) -> Result<Vec<LeaseId>> {
        self.inner.leases().await
    }
    async fn compact(&self, revision: u64) -> Result<()> {
        self.inner.compact(revision).await
    }
    async fn current_revision(&self) -> Result<u64> {
        self.count("current_revision");
        self.inner.current_revision().await
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Note", api_version = "example.com/v1")]
struct Note {
    metadata: ObjectMeta,
    text: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(async {
        let (underneath, url) = common::store("custom_backend").await?;
        println!("counting the calls made of: {url}");
        let calls = Arc::new(Mutex::new(BTreeMap::new()));

        // Registered under a scheme: connect("counting://") builds it from a configuration.
        let (inner, shared) = (Arc::clone(underneath.backend()), Arc::clone(&calls));
        kvstore::register("counting", move |config| {
            let backend = Counting {
                inner: Arc::clone(&inner),
                calls: Arc::clone(&shared),
            };
            async move {
                config.refuse_options()?;
                Ok(Arc::new(backend) as Arc<dyn Backend>)
            }
            .boxed()
        });
        let store: Store<Json> = kvstore::connect("counting://").await?;

        store.delete_prefix("/notes").await?;
        let note = Note {
            metadata: ObjectMeta::named("n1"),
            text: "first".to_owned(),
        };
        let created = store.create("/notes/n1", &note).await?;
        let mut edited = created.clone();
        edited.text = "second".to_owned();
        store.update("/notes/n1", &edited).await?;
        store
            .guaranteed_update("/notes/n1", |n: &mut Note| n.text.push('!'))
            .await?;
        let read: Note = store.get("/notes/n1").await?;
        println!("note: {}", read.text);

        let calls = calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (call, count) in &calls {
            println!("  {call}: {count}");
        }
        // A create, an update and a read-modify-write are one transaction each; the
        // read-modify-write and the get read once each.
        assert_eq!(
            calls.get("txn"),
            Some(&4),
            "delete_prefix, create, update, guaranteed_update"
        );
        assert_eq!(
            calls.get("range"),
            Some(&2),
            "guaranteed_update's read, get"
        );
        Ok(())
    })
    .await
}
