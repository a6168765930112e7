//! [`Namespaced`]: every key of a backend under one prefix — the `?namespace=` of every store
//! URL, one layer for every backend.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use super::{
    Backend, Capabilities, Compare, Event, EventStream, KeyValue, RangeRequest, RangeResponse, Txn,
    TxnOp, TxnOpResult, TxnResponse, WatchItem, WatchRequest,
};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::lease::{Lease, LeaseId, LeaseInfo};

/// A backend whose keys all live under `namespace`: the application sees `/users/alice`, the
/// store holds `/app/users/alice`. Several applications (or tests) share one store this way,
/// each seeing only its own keys. [`kvstore::connect`] applies it for the `namespace` of every
/// URL or configuration, whatever the backend.
///
/// Revisions, leases and compaction are the store's own, shared by every namespace.
///
/// [`kvstore::connect`]: https://docs.rs/kvstore/latest/kvstore/fn.connect.html
pub struct Namespaced {
    inner: Arc<dyn Backend>,
    prefix: String,
}

impl std::fmt::Debug for Namespaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaced")
            .field("backend", &self.inner.name())
            .field("namespace", &self.prefix)
            .finish()
    }
}

impl Namespaced {
    /// `inner` with every key under `namespace` (a key: `/app`, `/teams/a`); an invalid one is
    /// [`Error::InvalidKey`].
    pub fn new(inner: Arc<dyn Backend>, namespace: &str) -> Result<Namespaced> {
        validate_key(namespace)?;
        Ok(Namespaced {
            inner,
            prefix: namespace.to_owned(),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    fn strip(&self, kv: KeyValue) -> Result<KeyValue> {
        strip(&self.prefix, kv)
    }

    fn strip_all(&self, kvs: Vec<KeyValue>) -> Result<Vec<KeyValue>> {
        kvs.into_iter().map(|kv| self.strip(kv)).collect()
    }

    fn op(&self, op: TxnOp) -> TxnOp {
        match op {
            TxnOp::Put { key, value, lease } => TxnOp::Put {
                key: self.key(&key),
                value,
                lease,
            },
            TxnOp::Get { key } => TxnOp::Get {
                key: self.key(&key),
            },
            TxnOp::Delete { key } => TxnOp::Delete {
                key: self.key(&key),
            },
            TxnOp::DeleteRange { key, range_end } => TxnOp::DeleteRange {
                key: self.key(&key),
                range_end: self.key(&range_end),
            },
        }
    }

    fn result(&self, result: TxnOpResult) -> Result<TxnOpResult> {
        Ok(match result {
            TxnOpResult::Get(kv) => TxnOpResult::Get(kv.map(|kv| self.strip(kv)).transpose()?),
            TxnOpResult::Delete(kvs) => TxnOpResult::Delete(self.strip_all(kvs)?),
            other => other,
        })
    }
}

/// A key-value read from the store, its key without the namespace `prefix`.
fn strip(prefix: &str, mut kv: KeyValue) -> Result<KeyValue> {
    if !kv.key.starts_with(prefix) {
        return Err(Error::Backend {
            message: format!("the store returned key {:?} outside the namespace", kv.key),
            source: None,
        });
    }
    kv.key.drain(..prefix.len());
    Ok(kv)
}

/// A watch event, its keys without the namespace `prefix`.
fn strip_event(prefix: &str, event: Event) -> Result<Event> {
    Ok(Event {
        kind: event.kind,
        kv: strip(prefix, event.kv)?,
        prev_kv: event.prev_kv.map(|kv| strip(prefix, kv)).transpose()?,
    })
}

#[async_trait]
impl Backend for Namespaced {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let request = RangeRequest {
            key: self.key(&request.key),
            range_end: request.range_end.map(|end| self.key(&end)),
            ..request
        };
        let response = self.inner.range(request).await?;
        Ok(RangeResponse {
            kvs: self.strip_all(response.kvs)?,
            ..response
        })
    }

    async fn get_possibly_stale(&self, key: &str) -> Result<RangeResponse> {
        let response = self.inner.get_possibly_stale(&self.key(key)).await?;
        Ok(RangeResponse {
            kvs: self.strip_all(response.kvs)?,
            ..response
        })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let txn = Txn {
            compare: txn
                .compare
                .into_iter()
                .map(|c| Compare {
                    key: self.key(&c.key),
                    ..c
                })
                .collect(),
            success: txn.success.into_iter().map(|op| self.op(op)).collect(),
            failure: txn.failure.into_iter().map(|op| self.op(op)).collect(),
            own_revision: txn.own_revision,
        };
        let response = self.inner.txn(txn).await?;
        Ok(TxnResponse {
            results: response
                .results
                .into_iter()
                .map(|r| self.result(r))
                .collect::<Result<_>>()?,
            ..response
        })
    }

    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        let request = WatchRequest {
            key: self.key(&request.key),
            range_end: request.range_end.map(|end| self.key(&end)),
            start_revision: request.start_revision,
        };
        let prefix = self.prefix.clone();
        let events = self.inner.watch(request).await?;
        Ok(events
            .map(move |item| match item? {
                WatchItem::Event(event) => Ok(WatchItem::Event(strip_event(&prefix, event)?)),
                progress => Ok(progress),
            })
            .boxed())
    }

    async fn request_progress(&self) -> Result<()> {
        self.inner.request_progress().await
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        self.inner.lease_grant(ttl).await
    }

    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.lease_renew(lease).await
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.lease_revoke(lease).await
    }

    /// The lease with only its keys in the namespace, without the namespace.
    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        let Some(mut info) = self.inner.lease_info(lease).await? else {
            return Ok(None);
        };
        info.keys = std::mem::take(&mut info.keys)
            .into_iter()
            .filter_map(|key| {
                let inside = key.strip_prefix(&self.prefix)?;
                inside.starts_with('/').then(|| inside.to_owned())
            })
            .collect();
        Ok(Some(info))
    }

    /// The leases holding keys in the namespace (leases themselves are the server's, shared).
    async fn leases(&self) -> Result<Vec<LeaseId>> {
        let mut ours = Vec::new();
        for lease in self.inner.leases().await? {
            if let Some(info) = self.lease_info(lease).await? {
                if !info.keys.is_empty() {
                    ours.push(lease);
                }
            }
        }
        Ok(ours)
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        self.inner.compact(revision).await
    }

    async fn current_revision(&self) -> Result<u64> {
        self.inner.current_revision().await
    }
}
