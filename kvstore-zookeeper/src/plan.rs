//! Deciding a transaction on the keys as they stand: which branch runs, what each operation
//! returns, and the events and new key records it writes — the same rules as every backend
//! (a put keeping the lease of a missing key fails before any change).

use std::collections::{BTreeMap, BTreeSet};

use kvstore_core::backend::{PutLease, Txn, TxnOp};
use kvstore_core::{Error, LeaseId, Result};

use crate::read::in_range;
use crate::records::{KeyRecord, LoggedEvent};
use crate::values::NewValue;

/// Every key a batch may touch: its record, or `None` when absent.
pub(crate) type KeyStates = BTreeMap<String, Option<KeyRecord>>;

/// A result whose values are still to be read.
pub(crate) enum Planned {
    Put,
    Get(Option<(String, KeyRecord)>),
    Delete(Vec<(String, KeyRecord)>),
}

/// What a transaction does, decided on a state.
pub(crate) struct Plan {
    pub succeeded: bool,
    pub results: Vec<Planned>,
    pub events: Vec<LoggedEvent>,
    /// The state of each key it changed, after it.
    pub after: BTreeMap<String, Option<KeyRecord>>,
    /// Which prepared values its writes use (by operation index over success then failure).
    pub used: BTreeSet<usize>,
    /// The leases its puts attach keys to.
    pub attaches: BTreeSet<i64>,
}

/// Decides `txn` on `state`; its writes would be at `revision`. Leases in `dead` are known to
/// be gone.
pub(crate) fn decide(
    state: &KeyStates,
    revision: u64,
    txn: &Txn,
    prepared: &BTreeMap<usize, NewValue>,
    dead: &BTreeSet<i64>,
) -> Result<Plan> {
    let record = |key: &str| state.get(key).cloned().flatten();
    let succeeded = txn.compare.iter().all(|c| {
        let (create, modified) = record(&c.key).map_or((0, 0), |r| (r.create, r.modified));
        c.holds(create, modified)
    });
    let (ops, offset) = if succeeded {
        (&txn.success, 0)
    } else {
        (&txn.failure, txn.success.len())
    };
    for op in ops {
        match op {
            TxnOp::Put {
                key,
                lease: PutLease::Keep,
                ..
            } if record(key).is_none() => return Err(Error::NotFound { key: key.clone() }),
            TxnOp::Put {
                lease: PutLease::Attach(id),
                ..
            } if dead.contains(&id.0) => return Err(Error::LeaseNotFound { lease: *id }),
            _ => {}
        }
    }
    let mut state = state.clone();
    let mut plan = Plan {
        succeeded,
        results: Vec::with_capacity(ops.len()),
        events: Vec::new(),
        after: BTreeMap::new(),
        used: BTreeSet::new(),
        attaches: BTreeSet::new(),
    };
    for (n, op) in ops.iter().enumerate() {
        match op {
            TxnOp::Put { key, lease, .. } => {
                let prev = state.get(key).cloned().flatten();
                let lease = match lease {
                    PutLease::Detach => None,
                    PutLease::Attach(LeaseId(id)) => {
                        plan.attaches.insert(*id);
                        Some(*id)
                    }
                    PutLease::Keep => prev.as_ref().and_then(|p| p.lease),
                };
                let value = prepared.get(&(n + offset)).ok_or_else(|| Error::Backend {
                    message: format!("zookeeper: no value prepared for the put of {key}"),
                    source: None,
                })?;
                plan.used.insert(n + offset);
                let put = KeyRecord {
                    create: prev.as_ref().map_or(revision, |p| p.create),
                    modified: revision,
                    lease,
                    value: value.reference.clone(),
                };
                plan.events.push(LoggedEvent {
                    key: key.clone(),
                    put: Some(put.clone()),
                    prev,
                });
                state.insert(key.clone(), Some(put.clone()));
                plan.after.insert(key.clone(), Some(put));
                plan.results.push(Planned::Put);
            }
            TxnOp::Get { key } => {
                let found = state.get(key).cloned().flatten();
                plan.results
                    .push(Planned::Get(found.map(|r| (key.clone(), r))));
            }
            TxnOp::Delete { key } => {
                let deleted = delete(&mut state, &mut plan, key);
                plan.results
                    .push(Planned::Delete(deleted.into_iter().collect()));
            }
            TxnOp::DeleteRange { key, range_end } => {
                let keys: Vec<String> = state
                    .iter()
                    .filter(|(k, r)| r.is_some() && in_range(k, key, Some(range_end)))
                    .map(|(k, _)| k.clone())
                    .collect();
                let deleted = keys
                    .iter()
                    .filter_map(|k| delete(&mut state, &mut plan, k))
                    .collect();
                plan.results.push(Planned::Delete(deleted));
            }
        }
    }
    Ok(plan)
}

fn delete(state: &mut KeyStates, plan: &mut Plan, key: &str) -> Option<(String, KeyRecord)> {
    let prev = state.get(key).cloned().flatten()?;
    state.insert(key.to_owned(), None);
    plan.after.insert(key.to_owned(), None);
    plan.events.push(LoggedEvent {
        key: key.to_owned(),
        put: None,
        prev: Some(prev.clone()),
    });
    Some((key.to_owned(), prev))
}
