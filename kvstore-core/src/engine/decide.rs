//! Deciding a transaction on the keys as they stand: which branch runs, what each operation
//! returns, and the events it writes at its revision. Pure: the writer decides the
//! transactions of a batch one after the other on the state the ones before left.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::backend::{Event, KeyValue, PutLease, Txn, TxnOp, TxnOpResult};
use crate::error::{Error, Result};
use crate::lease::LeaseId;

pub(crate) use super::view::View;

/// What a transaction does on a view.
#[derive(Debug)]
pub(crate) struct Decision {
    pub succeeded: bool,
    pub results: Vec<TxnOpResult>,
    /// The changes it writes, at the revision it was decided for (none for a read).
    pub events: Vec<Event>,
    /// The leases its puts attach keys to.
    pub attaches: BTreeSet<LeaseId>,
}

/// Whether `key` is in `[start, end)`.
pub(crate) fn in_range(key: &str, start: &str, end: &str) -> bool {
    key >= start && key < end
}

/// Decides `txn` on `view`, its writes at `revision`; applies them to `view`. Puts attaching
/// to a lease of `dead` fail the transaction, as a put keeping the lease of a missing key does;
/// then nothing changes.
pub(crate) fn decide(
    view: &mut View,
    revision: u64,
    txn: &Txn,
    dead: &BTreeSet<LeaseId>,
) -> Result<Decision> {
    let current = |view: &View, key: &str| view.get(key).cloned();
    let succeeded = txn.compare.iter().all(|c| {
        let (create, modified) = view
            .get(&c.key)
            .map_or((0, 0), |kv| (kv.create_revision, kv.mod_revision));
        c.holds(create, modified)
    });
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    for op in ops {
        match op {
            TxnOp::Put {
                key,
                lease: PutLease::Keep,
                ..
            } if view.get(key).is_none() => return Err(Error::NotFound { key: key.clone() }),
            TxnOp::Put {
                lease: PutLease::Attach(id),
                ..
            } if dead.contains(id) => return Err(Error::LeaseNotFound { lease: *id }),
            _ => {}
        }
    }
    let mut decision = Decision {
        succeeded,
        results: Vec::with_capacity(ops.len()),
        events: Vec::new(),
        attaches: BTreeSet::new(),
    };
    for op in ops {
        let result = match op {
            TxnOp::Put { key, value, lease } => {
                let previous = current(view, key);
                let lease = match lease {
                    PutLease::Detach => None,
                    PutLease::Attach(id) => {
                        decision.attaches.insert(*id);
                        Some(*id)
                    }
                    PutLease::Keep => previous.as_ref().and_then(|p| p.lease),
                };
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: previous.as_ref().map_or(revision, |p| p.create_revision),
                    mod_revision: revision,
                    lease,
                };
                view.set(key, Some(kv.clone()));
                decision.events.push(Event::put(kv, previous));
                TxnOpResult::Put
            }
            TxnOp::Get { key } => TxnOpResult::Get(current(view, key)),
            TxnOp::Delete { key } => TxnOpResult::Delete(
                delete(view, &mut decision, key, revision)
                    .into_iter()
                    .collect(),
            ),
            TxnOp::DeleteRange { key, range_end } => {
                let keys = view.live_in(key, range_end);
                let deleted = keys
                    .iter()
                    .filter_map(|k| delete(view, &mut decision, k, revision))
                    .collect();
                TxnOpResult::Delete(deleted)
            }
        };
        decision.results.push(result);
    }
    Ok(decision)
}

fn delete(view: &mut View, decision: &mut Decision, key: &str, revision: u64) -> Option<KeyValue> {
    let previous = view.take(key)?;
    let tombstone = KeyValue {
        key: key.to_owned(),
        value: Bytes::new(),
        create_revision: 0,
        mod_revision: revision,
        lease: None,
    };
    decision
        .events
        .push(Event::delete(tombstone, previous.clone()));
    Some(previous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Compare;

    fn put(key: &str, value: &'static str) -> TxnOp {
        TxnOp::put(key, Bytes::from_static(value.as_bytes()), PutLease::Detach)
    }

    #[test]
    fn a_failed_compare_runs_the_failure_branch_and_writes_nothing() {
        let mut view = View::default();
        let txn = Txn::when([Compare::exists("/a")])
            .then(put("/a", "x"))
            .otherwise(TxnOp::get("/a"));
        let decision = decide(&mut view, 1, &txn, &BTreeSet::new()).unwrap();
        assert!(!decision.succeeded);
        assert!(decision.events.is_empty());
        assert_eq!(decision.results, vec![TxnOpResult::Get(None)]);
    }

    #[test]
    fn keeping_the_lease_of_a_missing_key_or_attaching_to_a_dead_lease_fails_whole() {
        let mut view = View::default();
        let keep = Txn::default().then(put("/x", "1")).then(TxnOp::put(
            "/a",
            Bytes::new(),
            PutLease::Keep,
        ));
        assert!(decide(&mut view, 1, &keep, &BTreeSet::new())
            .unwrap_err()
            .is_not_found());
        let dead = BTreeSet::from([LeaseId(7)]);
        let attach =
            Txn::default().then(TxnOp::put("/a", Bytes::new(), PutLease::Attach(LeaseId(7))));
        assert!(decide(&mut view, 1, &attach, &dead).is_err());
        assert!(view.is_empty());
    }
}
