//! Ambiguous writes settled by what a complete watch delivered, before the search.
//!
//! A write whose answer was lost may have taken effect at any time after it began, or never;
//! each one multiplies the orders the linearizability search must try. But every value the
//! clients write is unique, and a watch from the run's start that delivered every change
//! (which the watch checks verify on their own) shows whether it took effect, and at which
//! revision: a write whose value the watch delivered is settled as written at that revision,
//! one whose value it never delivered as not having happened. (etcd's robustness tests patch
//! their histories the same way.) A delete writes no value: ambiguous deletes of a name are
//! settled as not having happened when the watch delivered no deletion of that name that a
//! known write does not explain; otherwise they stay ambiguous.

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
    let unexplained = unexplained_deletions(operations, watch, &delivered);
    let mut settled = Vec::with_capacity(operations.len());
    for op in operations {
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
                _ => None,
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
            Call::Delete { key, .. } if !unexplained.contains(key.as_str()) => Some(None),
            _ => None,
        };
        match written {
            // Not a write the watch can settle.
            None => settled.push(op.clone()),
            // Never delivered: it did not happen.
            Some(None) => {}
            Some(Some(outcome)) => settled.push(Operation {
                ret: Some(end),
                outcome,
                ..op.clone()
            }),
        }
    }
    settled
}

/// The names of the deletions `watch` delivered at a revision no answered or settled write
/// has: deletions only an ambiguous delete can explain.
fn unexplained_deletions<'a>(
    operations: &[Operation],
    watch: &'a WatchLog,
    delivered: &HashMap<(&str, &str), u64>,
) -> HashSet<&'a str> {
    let mut known: HashSet<u64> = operations
        .iter()
        .filter_map(|op| match op.outcome {
            Outcome::Written { rev }
            | Outcome::Updated { rev, .. }
            | Outcome::Deleted { rev, .. } => Some(rev),
            _ => None,
        })
        .collect();
    // Revisions of ambiguous writes settled by their values (a transaction's deletes too).
    known.extend(delivered.values().copied());
    watch
        .events
        .iter()
        .filter(|e| e.kind == "Deleted" && !known.contains(&e.rev))
        .map(|e| e.key.as_str())
        .collect()
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
}
