//! The store's state and the transitions every operation makes on it, under one lock.

use kvstore_core::backend::{
    Event, KeyValue, PutLease, RangeRequest, RangeResponse, Txn, TxnOp, TxnOpResult, TxnResponse,
};
use kvstore_core::{Error, LeaseId, Result};
use tokio::time::Instant;

use crate::history::History;
use crate::keyspace::Keyspace;
use crate::leases::Leases;

/// Keys, history and leases, with the revision counter.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The revision of the last write.
    pub revision: u64,
    /// Reads and watches before this revision give `Gone`.
    pub compacted: u64,
    pub keys: Keyspace,
    pub history: History,
    pub leases: Leases,
}

/// The changes one write transaction makes, all at one revision.
struct Write<'a> {
    state: &'a mut State,
    revision: u64,
    wrote: bool,
}

impl Write<'_> {
    fn put(&mut self, key: &str, value: bytes::Bytes, lease: Option<LeaseId>) {
        let old_lease = self.state.keys.lease(key).flatten();
        let (kv, prev_kv) = self.state.keys.put(key, value, lease, self.revision);
        if old_lease != lease {
            if let Some(old) = old_lease {
                self.state.leases.detach(old, key);
            }
        }
        if let Some(lease) = lease {
            self.state.leases.attach(lease, key);
        }
        self.record(Event::put(kv, prev_kv));
    }

    fn delete(&mut self, key: &str) -> Option<KeyValue> {
        let previous = self.state.keys.delete(key, self.revision)?;
        if let Some(lease) = previous.lease {
            self.state.leases.detach(lease, key);
        }
        let tombstone = KeyValue {
            key: key.to_owned(),
            value: bytes::Bytes::new(),
            create_revision: 0,
            mod_revision: self.revision,
            lease: None,
        };
        self.record(Event::delete(tombstone, previous.clone()));
        Some(previous)
    }

    fn record(&mut self, event: Event) {
        self.wrote = true;
        self.state.history.push(event);
    }

    /// Ends the write; returns the store revision and whether it changed.
    fn finish(self) -> (u64, bool) {
        if self.wrote {
            self.state.revision = self.revision;
        }
        (self.state.revision, self.wrote)
    }
}

impl State {
    fn begin(&mut self) -> Write<'_> {
        let revision = self.revision + 1;
        Write {
            state: self,
            revision,
            wrote: false,
        }
    }

    /// Serves a range read.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse> {
        let revision = request.read_revision(self.revision, self.compacted)?;
        let page = self.keys.range(
            &request.key,
            request.range_end.as_deref(),
            revision,
            request.limit,
        );
        Ok(RangeResponse {
            kvs: page.kvs,
            more: page.more,
            revision: self.revision,
        })
    }

    /// Runs a transaction; returns the response and whether it wrote.
    pub fn txn(&mut self, txn: Txn, now: Instant) -> Result<(TxnResponse, bool)> {
        let succeeded = txn.compare.iter().all(|c| {
            let (create, modified) = self.keys.revisions(&c.key);
            c.holds(create, modified)
        });
        let ops = if succeeded { txn.success } else { txn.failure };
        self.check_puts(&ops, now)?;
        let mut write = self.begin();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(match op {
                TxnOp::Put { key, value, lease } => {
                    let lease = match lease {
                        PutLease::Detach => None,
                        PutLease::Attach(id) => Some(id),
                        PutLease::Keep => write.state.keys.lease(&key).flatten(),
                    };
                    write.put(&key, value, lease);
                    TxnOpResult::Put
                }
                TxnOp::Get { key } => TxnOpResult::Get(write.state.keys.get(&key)),
                TxnOp::Delete { key } => {
                    TxnOpResult::Delete(write.delete(&key).into_iter().collect())
                }
                TxnOp::DeleteRange { key, range_end } => {
                    let keys = write.state.keys.live_keys(&key, &range_end);
                    TxnOpResult::Delete(keys.iter().filter_map(|k| write.delete(k)).collect())
                }
            });
        }
        let (revision, wrote) = write.finish();
        Ok((
            TxnResponse {
                succeeded,
                revision,
                results,
            },
            wrote,
        ))
    }

    /// Fails before any change when a put names a dead lease or keeps the lease of a missing key.
    fn check_puts(&self, ops: &[TxnOp], now: Instant) -> Result<()> {
        for op in ops {
            match op {
                TxnOp::Put {
                    lease: PutLease::Attach(id),
                    ..
                } => self.leases.check_alive(*id, now)?,
                TxnOp::Put {
                    key,
                    lease: PutLease::Keep,
                    ..
                } if self.keys.lease(key).is_none() => {
                    return Err(Error::NotFound { key: key.clone() })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes a lease and deletes its keys in one revision; returns whether it wrote.
    pub fn revoke(&mut self, id: LeaseId) -> Result<bool> {
        let keys = self.leases.remove(id)?;
        let mut write = self.begin();
        for key in &keys {
            write.delete(key);
        }
        Ok(write.finish().1)
    }

    /// Revokes every lease whose deadline passed; returns whether it wrote.
    pub fn expire(&mut self, now: Instant) -> bool {
        let mut wrote = false;
        for id in self.leases.due(now) {
            wrote |= self.revoke(id).unwrap_or(false);
        }
        wrote
    }

    /// Discards history before `revision`.
    pub fn compact(&mut self, revision: u64) -> Result<()> {
        if revision <= self.compacted {
            return Err(Error::Gone {
                revision,
                compacted: self.compacted,
            });
        }
        if revision > self.revision {
            return Err(Error::InvalidArgument(format!(
                "cannot compact at future revision {revision} (current {})",
                self.revision
            )));
        }
        for key in self.history.drain_before(revision) {
            self.keys.compact_key(&key, revision);
        }
        self.compacted = revision;
        Ok(())
    }

    /// Keeps at most `retained` revisions of history.
    pub fn trim_history(&mut self, retained: u64) {
        let floor = self.revision.saturating_sub(retained);
        if floor > self.compacted {
            // Cannot fail: compacted < floor <= revision.
            let _ = self.compact(floor);
        }
    }
}
