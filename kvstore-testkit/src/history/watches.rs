//! Watches opened on the same run, what they delivered, and the guarantees checked on it:
//! ordered, unique, atomic, bookmarks never ahead, no gap against the recorded writes, and a
//! watch resumed from any delivered revision continuing exactly after it.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use kvstore_core::codec::CodecFor;
use kvstore_core::conformance::Widget;
use kvstore_core::{ResourceVersion, Store, WatchEvent, WatchFrom, WatchOptions};

use super::operation::{Call, Operation, Outcome, TxnWrite};
use super::workload::rev_of;

/// The name written last, by which every watcher knows the run is over.
pub(crate) const END: &str = "end";

/// A change or bookmark a watch delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// `Added`, `Modified`, `Deleted` or `Bookmark`.
    pub kind: String,
    /// The object's name (empty for a bookmark).
    pub key: String,
    /// The object's value (the last one, for a deletion).
    pub value: String,
    /// The change's resource version (the bookmark's).
    pub rev: u64,
}

impl Seen {
    fn is_bookmark(&self) -> bool {
        self.kind == "Bookmark"
    }
}

/// What one watch delivered from revision `from` on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchLog {
    /// The revision the watch started after.
    pub from: u64,
    /// Every change and bookmark, in the order delivered.
    pub events: Vec<Seen>,
    /// How often the stream broke and was opened again from the last revision delivered.
    pub resumes: usize,
    /// Why the watch ended before the run's end (history compacted...), if it did.
    pub ended: Option<String>,
    /// Whether it ended because its start point was compacted (`Gone`).
    #[serde(default)]
    pub gone: bool,
}

fn seen(event: WatchEvent<Widget>) -> Seen {
    let (kind, object) = match event {
        WatchEvent::Added(o) => ("Added", o),
        WatchEvent::Modified(o) => ("Modified", o),
        WatchEvent::Deleted(o) => ("Deleted", o),
        WatchEvent::Bookmark(rv) | WatchEvent::InitialStateDone(rv) => {
            return Seen {
                kind: "Bookmark".into(),
                key: String::new(),
                value: String::new(),
                rev: rv.revision(),
            }
        }
    };
    Seen {
        kind: kind.into(),
        rev: rev_of(&object),
        key: object.metadata.name,
        value: object.color,
    }
}

/// Follows `prefix` from revision `from` until the end marker is delivered or `stop` is set,
/// opening the watch again from the last revision delivered whenever it breaks.
pub(crate) async fn follow<C: CodecFor<Widget>>(
    store: Store<C>,
    prefix: String,
    from: u64,
    mut stop: watch::Receiver<bool>,
) -> WatchLog {
    let mut log = WatchLog {
        from,
        ..WatchLog::default()
    };
    let mut after = from;
    loop {
        let options = ResourceVersion::new(after)
            .map(|rv| WatchOptions::starting(WatchFrom::Version(rv)).with_bookmarks());
        let opened = match options {
            Ok(options) => store.watch_prefix_with::<Widget>(&prefix, &options).await,
            Err(e) => {
                log.ended = Some(e.to_string());
                return log;
            }
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(e) if e.is_gone() => {
                log.ended = Some(e.to_string());
                log.gone = true;
                return log;
            }
            Err(_) => {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return log,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        loop {
            let item = tokio::select! {
                _ = stop.wait_for(|s| *s) => return log,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(event)) => {
                    let event = seen(event);
                    after = after.max(event.rev);
                    let done = event.key == END;
                    log.events.push(event);
                    if done {
                        return log;
                    }
                }
                Some(Err(e)) if e.is_gone() => {
                    log.ended = Some(e.to_string());
                    log.gone = true;
                    return log;
                }
                Some(Err(_)) | None => {
                    log.resumes += 1;
                    break;
                }
            }
        }
    }
}

/// A change the recorded history says happened at a revision.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Change {
    key: String,
    kind: &'static str,
    /// `None` when the history does not say (a transaction's delete).
    value: Option<String>,
}

/// The changes of every write whose revision the history knows, by revision.
fn known_changes(operations: &[Operation]) -> BTreeMap<u64, Vec<Change>> {
    let mut changes: BTreeMap<u64, Vec<Change>> = BTreeMap::new();
    for op in operations {
        let change = |key: &str, kind, value: Option<&str>| Change {
            key: key.to_owned(),
            kind,
            value: value.map(str::to_owned),
        };
        let (rev, list) = match (&op.call, &op.outcome) {
            (Call::Create { key, value }, Outcome::Written { rev }) => {
                (*rev, vec![change(key, "Added", Some(value))])
            }
            (Call::Update { key, value, .. }, Outcome::Written { rev }) => {
                (*rev, vec![change(key, "Modified", Some(value))])
            }
            (Call::GuaranteedUpdate { key, .. }, Outcome::Updated { value, rev }) => {
                (*rev, vec![change(key, "Modified", Some(value))])
            }
            (Call::Delete { key, .. }, Outcome::Deleted { value, rev }) => {
                (*rev, vec![change(key, "Deleted", Some(value))])
            }
            (Call::Txn { writes }, Outcome::Written { rev }) => {
                let list = writes
                    .iter()
                    .map(|write| match write {
                        TxnWrite::Create { key, value } => change(key, "Added", Some(value)),
                        TxnWrite::Update { key, value, .. } => change(key, "Modified", Some(value)),
                        TxnWrite::Delete { key, .. } => change(key, "Deleted", None),
                    })
                    .collect();
                (*rev, list)
            }
            _ => continue,
        };
        changes.entry(rev).or_default().extend(list);
    }
    for list in changes.values_mut() {
        list.sort();
    }
    changes
}

/// The names an ambiguous write of the history may have changed.
fn ambiguous_keys(operations: &[Operation]) -> HashSet<String> {
    operations
        .iter()
        .filter(|op| op.outcome == Outcome::Ambiguous)
        .flat_map(|op| op.call.keys().unwrap_or_default())
        .map(str::to_owned)
        .collect()
}

/// Every way `log` breaks a watch guarantee, given the history of the run.
pub fn check_watch(log: &WatchLog, operations: &[Operation]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut last_change = log.from;
    let mut last_bookmark = 0;
    let mut seen_pairs = HashSet::new();
    for (index, event) in log.events.iter().enumerate() {
        if event.is_bookmark() {
            if event.rev < last_change {
                violations.push(format!(
                    "event {index}: bookmark at {} behind a delivered change at {last_change}",
                    event.rev
                ));
            }
            last_bookmark = last_bookmark.max(event.rev);
            continue;
        }
        if event.rev < last_change {
            violations.push(format!(
                "event {index}: {} {} at {} after a change at {last_change} (not ordered)",
                event.kind, event.key, event.rev
            ));
        }
        if event.rev <= last_bookmark {
            violations.push(format!(
                "event {index}: {} {} at {} after a bookmark at {last_bookmark} promised \
                 every change up to it",
                event.kind, event.key, event.rev
            ));
        }
        if !seen_pairs.insert((event.key.clone(), event.rev)) {
            violations.push(format!(
                "event {index}: {} {} at {} delivered twice",
                event.kind, event.key, event.rev
            ));
        }
        last_change = last_change.max(event.rev);
    }
    // Against the history: each revision's changes, all and only them.
    let known = known_changes(operations);
    let ambiguous = ambiguous_keys(operations);
    let mut delivered: BTreeMap<u64, Vec<Change>> = BTreeMap::new();
    for event in log
        .events
        .iter()
        .filter(|e| !e.is_bookmark() && e.key != END)
    {
        let kind = match event.kind.as_str() {
            "Added" => "Added",
            "Modified" => "Modified",
            _ => "Deleted",
        };
        delivered.entry(event.rev).or_default().push(Change {
            key: event.key.clone(),
            kind,
            value: Some(event.value.clone()),
        });
    }
    let reached = log.events.iter().map(|e| e.rev).max().unwrap_or(log.from);
    let complete = log.ended.is_none();
    for (rev, expected) in known.range(log.from + 1..) {
        if !complete && *rev > reached {
            break;
        }
        match delivered.get_mut(rev) {
            None => violations.push(format!(
                "the change at {rev} ({expected:?}) was never delivered (a gap)"
            )),
            Some(got) => {
                got.sort();
                let same = got.len() == expected.len()
                    && got.iter().zip(expected).all(|(g, e)| {
                        g.key == e.key
                            && g.kind == e.kind
                            && (e.value.is_none() || g.value == e.value)
                    });
                if !same {
                    violations.push(format!(
                        "at {rev} the watch delivered {got:?}, the history wrote {expected:?} \
                         (not atomic, or not what was written)"
                    ));
                }
            }
        }
    }
    for (rev, got) in &delivered {
        if !known.contains_key(rev) && got.iter().any(|c| !ambiguous.contains(&c.key)) {
            violations.push(format!(
                "at {rev} the watch delivered {got:?}, which no write of the history made"
            ));
        }
    }
    violations
}

/// Whether `resumed` (a watch opened from revision `resumed.from`) delivered exactly the
/// changes `original` delivered after that revision.
pub fn check_resumed(original: &WatchLog, resumed: &WatchLog) -> Option<String> {
    let changes = |log: &WatchLog| -> Vec<Seen> {
        log.events
            .iter()
            .filter(|e| !e.is_bookmark() && e.rev > resumed.from)
            .cloned()
            .collect()
    };
    let (want, got) = (changes(original), changes(resumed));
    (want != got).then(|| {
        let at = want
            .iter()
            .zip(&got)
            .position(|(w, g)| w != g)
            .unwrap_or(want.len().min(got.len()));
        format!(
            "a watch resumed from {} differs from the first at its change {at}: {:?} where \
             the first delivered {:?}",
            resumed.from,
            got.get(at),
            want.get(at)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, outcome: Outcome) -> Operation {
        Operation {
            client: 0,
            invoke: 0,
            ret: Some(1),
            call,
            outcome,
        }
    }

    fn event(kind: &str, key: &str, value: &str, rev: u64) -> Seen {
        Seen {
            kind: kind.into(),
            key: key.into(),
            value: value.into(),
            rev,
        }
    }

    fn history() -> Vec<Operation> {
        vec![
            op(
                Call::Create {
                    key: "a".into(),
                    value: "1".into(),
                },
                Outcome::Written { rev: 5 },
            ),
            op(
                Call::Txn {
                    writes: vec![
                        TxnWrite::Update {
                            key: "a".into(),
                            value: "2".into(),
                            expected: 5,
                        },
                        TxnWrite::Create {
                            key: "b".into(),
                            value: "3".into(),
                        },
                    ],
                },
                Outcome::Written { rev: 6 },
            ),
        ]
    }

    fn log(events: Vec<Seen>) -> WatchLog {
        WatchLog {
            from: 4,
            events,
            ..WatchLog::default()
        }
    }

    #[test]
    fn a_faithful_watch_passes() {
        let good = log(vec![
            event("Added", "a", "1", 5),
            event("Bookmark", "", "", 5),
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
        ]);
        assert_eq!(check_watch(&good, &history()), Vec::<String>::new());
    }

    #[test]
    fn a_gap_a_duplicate_a_reordering_and_a_split_transaction_are_caught() {
        let gap = log(vec![
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
        ]);
        assert_eq!(check_watch(&gap, &history()).len(), 1);
        let twice = log(vec![
            event("Added", "a", "1", 5),
            event("Added", "a", "1", 5),
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
        ]);
        assert!(!check_watch(&twice, &history()).is_empty());
        let reordered = log(vec![
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
            event("Added", "a", "1", 5),
        ]);
        assert!(!check_watch(&reordered, &history()).is_empty());
        let split = log(vec![
            event("Added", "a", "1", 5),
            event("Modified", "a", "2", 6),
        ]);
        assert!(!check_watch(&split, &history()).is_empty());
    }

    #[test]
    fn a_bookmark_ahead_of_a_change_is_caught() {
        let ahead = log(vec![
            event("Added", "a", "1", 5),
            event("Bookmark", "", "", 6),
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
        ]);
        assert!(!check_watch(&ahead, &history()).is_empty());
    }

    #[test]
    fn a_resumed_watch_must_continue_exactly_after_its_start() {
        let original = log(vec![
            event("Added", "a", "1", 5),
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
        ]);
        let mut resumed = log(vec![
            event("Modified", "a", "2", 6),
            event("Added", "b", "3", 6),
        ]);
        resumed.from = 5;
        assert_eq!(check_resumed(&original, &resumed), None);
        let late = WatchLog {
            from: 5,
            events: vec![event("Added", "b", "3", 6)],
            ..WatchLog::default()
        };
        assert!(check_resumed(&original, &late).is_some());
    }
}
