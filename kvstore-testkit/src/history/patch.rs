//! Ambiguous writes settled by what a complete watch delivered, before the search.
//!
//! A write whose answer was lost may have taken effect at any time after it began, or never;
//! each one multiplies the orders the linearizability search must try. But every value the
//! clients write is unique, and a watch from the run's start that delivered every change
//! (which the watch checks verify on their own) shows whether it took effect, and at which
//! revision: a write whose value the watch delivered is settled as written at that revision,
//! one whose value it never delivered as not having happened. (etcd's robustness tests patch
//! their histories the same way.) A delete writes no value: each deletion the watch delivered
//! that no answered or settled write explains was made by an ambiguous delete of that name —
//! one whose condition allows the version deleted and which began before a write of a later
//! revision returned. A deletion with one such candidate settles it; a candidate of no
//! deletion did not happen; the others stay ambiguous.

use std::collections::{HashMap, HashSet};

use super::operation::{Call, Operation, Outcome, TxnWrite};
use super::watches::WatchLog;

/// `operations` with the ambiguous writes `watch` settles settled; those that did not happen
/// are left out.
pub(crate) fn settle(operations: &[Operation], watch: Option<&WatchLog>) -> Vec<Operation> {
    let Some(watch) = watch.filter(|w| w.ended.is_none()) else {
        return operations.to_vec();
    };
    // The revision each value was first delivered at, by name and value.
    let mut delivered: HashMap<(&str, &str), u64> = HashMap::new();
    for event in watch.events.iter().filter(|e| e.kind != "Deleted") {
        delivered
            .entry((event.key.as_str(), event.value.as_str()))
            .or_insert(event.rev);
    }
    let end = operations
        .iter()
        .filter_map(|op| op.ret.or(Some(op.invoke)))
        .max()
        .unwrap_or(0)
        + 1;
    let deadlines = Deadlines::new(operations, end);
    let deletes = settle_deletes(operations, watch, &delivered, &deadlines);
    let mut settled = Vec::with_capacity(operations.len());
    for (index, op) in operations.iter().enumerate() {
        if op.outcome != Outcome::Ambiguous {
            settled.push(op.clone());
            continue;
        }
        let by_value = |key: &str, value: &str| {
            Some(
                delivered
                    .get(&(key, value))
                    .map(|rev| Outcome::Written { rev: *rev }),
            )
        };
        let written = match &op.call {
            Call::Create { key, value } | Call::Update { key, value, .. } => by_value(key, value),
            Call::Txn { writes } => match writes.first() {
                Some(TxnWrite::Create { key, value } | TxnWrite::Update { key, value, .. }) => {
                    by_value(key, value)
                }
                _ => deleted_together(writes, watch),
            },
            Call::GuaranteedUpdate { key, token } => {
                let suffix = format!("+{token}");
                let shown = watch
                    .events
                    .iter()
                    .find(|e| e.kind != "Deleted" && e.key == *key && e.value.ends_with(&suffix));
                Some(shown.map(|e| Outcome::Updated {
                    value: e.value.clone(),
                    rev: e.rev,
                }))
            }
            Call::Delete { .. } => deletes.get(&index).cloned(),
            _ => None,
        };
        match written {
            // Not a write the watch can settle.
            None => settled.push(op.clone()),
            // Never delivered: it did not happen.
            Some(None) => {}
            Some(Some(outcome)) => settled.push(Operation {
                ret: Some(deadlines.before(outcome_rev(&outcome))),
                outcome,
                ..op.clone()
            }),
        }
    }
    settled
}

/// A transaction of deletes only (a lease's expiry): written at the revision at which the watch
/// delivered the deletion of every one of its names, if there is one; not written if the watch
/// delivered the deletion of none after it began; otherwise unknown.
fn deleted_together(writes: &[TxnWrite], watch: &WatchLog) -> Option<Option<Outcome>> {
    let deleted_at = |key: &str| -> Vec<u64> {
        watch
            .events
            .iter()
            .filter(|e| e.kind == "Deleted" && e.key == key)
            .map(|e| e.rev)
            .collect()
    };
    let mut common: Option<Vec<u64>> = None;
    for write in writes {
        let TxnWrite::Delete { key, expected } = write else {
            return None;
        };
        let revs: Vec<u64> = deleted_at(key)
            .into_iter()
            .filter(|r| r > expected)
            .collect();
        common = Some(match common {
            None => revs,
            Some(before) => before.into_iter().filter(|r| revs.contains(r)).collect(),
        });
    }
    match common.as_deref() {
        Some([rev]) => Some(Some(Outcome::Written { rev: *rev })),
        Some([]) if writes.iter().all(|w| deleted_at(w.key()).is_empty()) => Some(None),
        _ => None,
    }
}

/// When a change at a revision had happened by: when the first call that saw a later
/// revision (its write's, or a list's) returned; the run's end if none did.
struct Deadlines {
    /// (revision seen, when the call returned), by revision.
    seen: Vec<(u64, u64)>,
    /// `earliest[i]`: the earliest return among `seen[i..]`.
    earliest: Vec<u64>,
}

impl Deadlines {
    fn new(operations: &[Operation], end: u64) -> Self {
        let mut seen: Vec<(u64, u64)> = operations
            .iter()
            .filter_map(|op| {
                let rev = match &op.outcome {
                    Outcome::Written { rev }
                    | Outcome::Updated { rev, .. }
                    | Outcome::Deleted { rev, .. }
                    | Outcome::Listed { rev, .. } => *rev,
                    _ => return None,
                };
                Some((rev, op.ret?))
            })
            .collect();
        seen.sort_unstable();
        let mut earliest = vec![end; seen.len() + 1];
        for i in (0..seen.len()).rev() {
            earliest[i] = earliest[i + 1].min(seen[i].1);
        }
        Deadlines { seen, earliest }
    }

    /// When the change at `rev` had happened by.
    fn before(&self, rev: u64) -> u64 {
        self.earliest[self.seen.partition_point(|(r, _)| *r <= rev)]
    }
}

fn outcome_rev(outcome: &Outcome) -> u64 {
    match outcome {
        Outcome::Written { rev } | Outcome::Updated { rev, .. } | Outcome::Deleted { rev, .. } => {
            *rev
        }
        _ => u64::MAX,
    }
}

/// What the watch says of each ambiguous delete (by index): taken effect (and how), not,
/// or (absent from the map) unknown.
fn settle_deletes(
    operations: &[Operation],
    watch: &WatchLog,
    delivered: &HashMap<(&str, &str), u64>,
    deadlines: &Deadlines,
) -> HashMap<usize, Option<Outcome>> {
    let mut known: HashSet<u64> = delivered.values().copied().collect();
    known.extend(operations.iter().filter_map(|op| match &op.outcome {
        Outcome::Written { rev } | Outcome::Updated { rev, .. } | Outcome::Deleted { rev, .. } => {
            Some(*rev)
        }
        _ => None,
    }));
    let ambiguous: Vec<(usize, &str, Option<u64>)> = operations
        .iter()
        .enumerate()
        .filter(|(_, op)| op.outcome == Outcome::Ambiguous)
        .filter_map(|(i, op)| match &op.call {
            Call::Delete { key, expected } => Some((i, key.as_str(), *expected)),
            _ => None,
        })
        .collect();
    let mut fates: HashMap<usize, Option<Outcome>> = HashMap::new();
    let mut candidates_of_some = HashSet::new();
    // The version each name had, as the watch delivered it.
    let mut version: HashMap<&str, u64> = HashMap::new();
    for event in watch.events.iter().filter(|e| e.kind != "Bookmark") {
        let prior = version.get(event.key.as_str()).copied();
        if event.kind != "Deleted" {
            version.insert(event.key.as_str(), event.rev);
            continue;
        }
        version.remove(event.key.as_str());
        if known.contains(&event.rev) {
            continue;
        }
        let deadline = deadlines.before(event.rev);
        let candidates: Vec<usize> = ambiguous
            .iter()
            .filter(|(i, key, expected)| {
                *key == event.key
                    && !fates.contains_key(i)
                    && operations[*i].invoke < deadline
                    && (expected.is_none() || prior.is_none() || *expected == prior)
            })
            .map(|(i, ..)| *i)
            .collect();
        candidates_of_some.extend(candidates.iter().copied());
        if let [only] = candidates[..] {
            let outcome = Outcome::Deleted {
                value: event.value.clone(),
                rev: event.rev,
            };
            fates.insert(only, Some(outcome));
        }
    }
    for (i, ..) in &ambiguous {
        if !candidates_of_some.contains(i) {
            fates.insert(*i, None);
        }
    }
    fates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::watches::Seen;

    fn ambiguous_create(value: &str) -> Operation {
        Operation {
            client: 0,
            invoke: 10,
            ret: None,
            call: Call::Create {
                key: "a".into(),
                value: value.into(),
            },
            outcome: Outcome::Ambiguous,
        }
    }

    fn watch(ended: Option<String>) -> WatchLog {
        WatchLog {
            from: 0,
            events: vec![Seen {
                kind: "Added".into(),
                key: "a".into(),
                value: "shown".into(),
                rev: 7,
            }],
            resumes: 0,
            ended,
            gone: false,
        }
    }

    #[test]
    fn a_delivered_write_is_settled_at_its_revision_and_an_undelivered_one_dropped() {
        let ops = [ambiguous_create("shown"), ambiguous_create("never")];
        let settled = settle(&ops, Some(&watch(None)));
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].outcome, Outcome::Written { rev: 7 });
        assert_eq!(settled[0].ret, Some(11));
    }

    #[test]
    fn a_watch_that_ended_early_settles_nothing() {
        let ops = [ambiguous_create("never")];
        assert_eq!(
            settle(&ops, Some(&watch(Some("gone".into())))),
            ops.to_vec()
        );
    }

    fn seen(kind: &str, key: &str, value: &str, rev: u64) -> Seen {
        Seen {
            kind: kind.into(),
            key: key.into(),
            value: value.into(),
            rev,
        }
    }

    fn ambiguous(call: Call) -> Operation {
        Operation {
            client: 1,
            invoke: 20,
            ret: None,
            call,
            outcome: Outcome::Ambiguous,
        }
    }

    #[test]
    fn a_lease_expiry_is_settled_at_the_revision_deleting_all_its_names() {
        let expiry = ambiguous(Call::Txn {
            writes: vec![
                TxnWrite::Delete {
                    key: "a".into(),
                    expected: 3,
                },
                TxnWrite::Delete {
                    key: "b".into(),
                    expected: 4,
                },
            ],
        });
        let log = WatchLog {
            events: vec![
                seen("Added", "a", "x", 3),
                seen("Added", "b", "y", 4),
                seen("Deleted", "a", "x", 9),
                seen("Deleted", "b", "y", 9),
            ],
            ..WatchLog::default()
        };
        let settled = settle(std::slice::from_ref(&expiry), Some(&log));
        assert_eq!(settled[0].outcome, Outcome::Written { rev: 9 });
    }

    #[test]
    fn a_deletion_only_one_ambiguous_delete_explains_is_its_and_the_others_did_not_happen() {
        let delete = |expected| {
            ambiguous(Call::Delete {
                key: "a".into(),
                expected,
            })
        };
        // The first delete's condition allows the version deleted; the second's does not.
        let ops = [delete(Some(3)), delete(Some(2))];
        let log = WatchLog {
            events: vec![seen("Added", "a", "x", 3), seen("Deleted", "a", "x", 9)],
            ..WatchLog::default()
        };
        let settled = settle(&ops, Some(&log));
        assert_eq!(settled.len(), 1);
        assert_eq!(
            settled[0].outcome,
            Outcome::Deleted {
                value: "x".into(),
                rev: 9
            }
        );
        assert_eq!(settled[0].call, ops[0].call);
    }
}
