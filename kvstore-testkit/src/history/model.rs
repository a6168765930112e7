//! The store's semantics as a sequential model (what the memory backend does, written as
//! the semantics table says it): objects by name with a value and a resource version, and the
//! store's revision, which every write raises.
//!
//! Resource versions are checked by order, not by value: a write's must exceed every version
//! before it in the linearization (other clients of the same server may write elsewhere in
//! between), and a list's is at least every version before it. A write whose answer was lost
//! has an unknown version until a read shows it.

use std::collections::BTreeMap;

use super::checker::Model;
use super::operation::{Call, Item, Operation, Outcome, TxnWrite};

/// The store as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StoreState {
    objects: BTreeMap<String, Object>,
    /// No write linearized so far has a larger resource version, and no list saw one.
    revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Object {
    value: String,
    /// `None` after an ambiguous write, until a read shows it.
    rev: Option<u64>,
}

/// Whether a write's condition may hold, and whether it may fail, in a state.
#[derive(Debug, Clone, Copy)]
struct Condition {
    may_match: bool,
    may_differ: bool,
}

impl Condition {
    fn certain(holds: bool) -> Self {
        Condition {
            may_match: holds,
            may_differ: !holds,
        }
    }
}

/// The sequential model of a kvstore store, for [`check`](super::checker::check).
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreModel;

impl Model for StoreModel {
    type State = StoreState;
    type Op = Operation;

    fn init(&self) -> StoreState {
        StoreState::default()
    }

    fn step(&self, state: &StoreState, op: &Operation) -> Option<StoreState> {
        let mut next = state.clone();
        next.apply(&op.call, &op.outcome).then_some(next)
    }
}

impl StoreState {
    /// Whether `outcome` is what `call` answers from this state, changing the state as the
    /// call did.
    fn apply(&mut self, call: &Call, outcome: &Outcome) -> bool {
        match (call, outcome) {
            (_, Outcome::Failed) => false,
            (Call::Get { key, .. }, Outcome::Found { value, rev }) => self.shows(key, value, *rev),
            (Call::Get { key, .. }, Outcome::Absent) => !self.objects.contains_key(key),
            (Call::List, Outcome::Listed { items, rev }) => self.lists(items, *rev),
            (Call::Create { key, value }, outcome) => {
                let absent = !self.objects.contains_key(key);
                match outcome {
                    Outcome::Written { rev } => absent && self.put(key, value, Some(*rev)),
                    Outcome::Ambiguous => absent && self.put(key, value, None),
                    Outcome::AlreadyExists => !absent,
                    _ => false,
                }
            }
            (
                Call::Update {
                    key,
                    value,
                    expected,
                },
                outcome,
            ) => match (self.version(key, Some(*expected)), outcome) {
                (Some(v), Outcome::Written { rev }) if v.may_match => {
                    self.put(key, value, Some(*rev))
                }
                (Some(v), Outcome::Ambiguous) if v.may_match => self.put(key, value, None),
                (Some(v), Outcome::Conflict) => v.may_differ,
                (None, Outcome::NotFound) => true,
                _ => false,
            },
            (Call::GuaranteedUpdate { key, token }, outcome) => {
                let Some(current) = self.objects.get(key) else {
                    return *outcome == Outcome::NotFound;
                };
                let appended = format!("{}+{token}", current.value);
                match outcome {
                    Outcome::Updated { value, rev } => {
                        *value == appended && self.put(key, &appended, Some(*rev))
                    }
                    Outcome::Ambiguous => self.put(key, &appended, None),
                    _ => false,
                }
            }
            (Call::Delete { key, expected }, outcome) => {
                match (self.version(key, *expected), outcome) {
                    (Some(v), Outcome::Deleted { value, rev }) if v.may_match => {
                        self.objects.get(key).is_some_and(|o| o.value == *value)
                            && self.remove(key, Some(*rev))
                    }
                    (Some(v), Outcome::Ambiguous) if v.may_match => self.remove(key, None),
                    (Some(v), Outcome::Conflict) => v.may_differ,
                    (None, Outcome::NotFound) => true,
                    _ => false,
                }
            }
            (Call::Txn { writes }, outcome) => {
                let may_hold = writes.iter().all(|write| self.condition(write).may_match);
                let may_fail = writes.iter().any(|write| self.condition(write).may_differ);
                match outcome {
                    Outcome::Written { rev } => may_hold && self.commit(writes, Some(*rev)),
                    Outcome::Ambiguous => may_hold && self.commit(writes, None),
                    Outcome::Rejected => may_fail,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Whether `key` holds `value` at `rev` (learning `rev` if it was unknown).
    fn shows(&mut self, key: &str, value: &str, rev: u64) -> bool {
        let Some(object) = self.objects.get_mut(key) else {
            return false;
        };
        if object.value != value {
            return false;
        }
        match object.rev {
            Some(known) => known == rev,
            None => {
                object.rev = Some(rev);
                true
            }
        }
    }

    fn lists(&mut self, items: &[Item], rev: u64) -> bool {
        if items.len() != self.objects.len() || rev < self.revision {
            return false;
        }
        for item in items {
            if item.rev > rev || !self.shows(&item.key, &item.value, item.rev) {
                return false;
            }
        }
        self.revision = rev;
        true
    }

    /// `None`: no object at `key`; else whether its version may be `expected` and may be
    /// another (an unknown version may be either).
    fn version(&self, key: &str, expected: Option<u64>) -> Option<Condition> {
        let object = self.objects.get(key)?;
        Some(match (expected, object.rev) {
            (None, _) => Condition::certain(true),
            (Some(_), None) => Condition {
                may_match: true,
                may_differ: true,
            },
            (Some(expected), Some(rev)) => Condition::certain(expected == rev),
        })
    }

    /// Whether a write at `rev` may come next (a larger version than any before).
    fn advance(&mut self, rev: Option<u64>) -> bool {
        match rev {
            Some(rev) if rev <= self.revision => false,
            Some(rev) => {
                self.revision = rev;
                true
            }
            None => true,
        }
    }

    fn put(&mut self, key: &str, value: &str, rev: Option<u64>) -> bool {
        let object = Object {
            value: value.to_owned(),
            rev,
        };
        self.objects.insert(key.to_owned(), object);
        self.advance(rev)
    }

    fn remove(&mut self, key: &str, rev: Option<u64>) -> bool {
        self.objects.remove(key);
        self.advance(rev)
    }

    fn condition(&self, write: &TxnWrite) -> Condition {
        match write {
            TxnWrite::Create { key, .. } => Condition::certain(!self.objects.contains_key(key)),
            TxnWrite::Update { key, expected, .. } | TxnWrite::Delete { key, expected } => self
                .version(key, Some(*expected))
                .unwrap_or(Condition::certain(false)),
        }
    }

    fn commit(&mut self, writes: &[TxnWrite], rev: Option<u64>) -> bool {
        for write in writes {
            match write {
                TxnWrite::Create { key, value } | TxnWrite::Update { key, value, .. } => {
                    let object = Object {
                        value: value.clone(),
                        rev,
                    };
                    self.objects.insert(key.clone(), object);
                }
                TxnWrite::Delete { key, .. } => {
                    self.objects.remove(key);
                }
            }
        }
        self.advance(rev)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::history::checker::{check, Timed, Verdict};

    fn at(invoke: u64, ret: Option<u64>, call: Call, outcome: Outcome) -> Timed<Operation> {
        Timed {
            invoke,
            ret,
            op: Operation {
                client: 0,
                invoke,
                ret,
                call,
                outcome,
            },
        }
    }

    fn create(key: &str, value: &str) -> Call {
        Call::Create {
            key: key.into(),
            value: value.into(),
        }
    }
    fn get(key: &str) -> Call {
        Call::Get {
            key: key.into(),
            cached: false,
        }
    }
    fn update(key: &str, value: &str, expected: u64) -> Call {
        Call::Update {
            key: key.into(),
            value: value.into(),
            expected,
        }
    }
    fn found(value: &str, rev: u64) -> Outcome {
        Outcome::Found {
            value: value.into(),
            rev,
        }
    }

    fn verdict(ops: &[Timed<Operation>]) -> Verdict {
        check(&StoreModel, ops, Duration::from_secs(10))
    }

    fn linearizable(ops: &[Timed<Operation>]) -> bool {
        verdict(ops) == Verdict::Linearizable
    }

    #[test]
    fn a_plain_run_is_linearizable() {
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(20, Some(30), get("a"), found("1", 5)),
            at(
                40,
                Some(50),
                update("a", "2", 5),
                Outcome::Written { rev: 6 },
            ),
            at(60, Some(70), update("a", "3", 5), Outcome::Conflict),
            at(80, Some(90), get("a"), found("2", 6)),
        ];
        assert!(linearizable(&ops));
    }

    #[test]
    fn a_stale_read_is_caught() {
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(
                20,
                Some(30),
                update("a", "2", 5),
                Outcome::Written { rev: 6 },
            ),
            at(40, Some(50), get("a"), found("1", 5)),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn a_lost_update_is_caught() {
        // Two compare-and-swaps on the same version both succeed: one overwrote the other
        // without seeing it.
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(
                20,
                Some(40),
                update("a", "2", 5),
                Outcome::Written { rev: 6 },
            ),
            at(
                25,
                Some(45),
                update("a", "3", 5),
                Outcome::Written { rev: 7 },
            ),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn a_guaranteed_update_applied_twice_is_caught() {
        // A retry after a lost answer must not append the token again.
        let ops = [
            at(0, Some(10), create("a", "x"), Outcome::Written { rev: 5 }),
            at(
                20,
                Some(40),
                Call::GuaranteedUpdate {
                    key: "a".into(),
                    token: "t".into(),
                },
                Outcome::Updated {
                    value: "x+t".into(),
                    rev: 6,
                },
            ),
            at(50, Some(60), get("a"), found("x+t+t", 7)),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn an_ambiguous_write_may_show_later_with_the_version_a_read_learns() {
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(20, None, update("a", "2", 5), Outcome::Ambiguous),
            at(30, Some(40), get("a"), found("1", 5)),
            at(50, Some(60), get("a"), found("2", 9)),
            at(
                70,
                Some(80),
                update("a", "3", 9),
                Outcome::Written { rev: 10 },
            ),
        ];
        assert!(linearizable(&ops));
    }

    #[test]
    fn a_condition_on_an_unknown_version_may_fail() {
        // The ambiguous update may have landed: then the delete's condition failed.
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(20, None, update("a", "2", 5), Outcome::Ambiguous),
            at(
                30,
                Some(40),
                Call::Delete {
                    key: "a".into(),
                    expected: Some(5),
                },
                Outcome::Conflict,
            ),
        ];
        assert!(linearizable(&ops));
    }

    #[test]
    fn a_failed_write_that_shows_is_caught() {
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Failed),
            at(20, Some(30), get("a"), found("1", 5)),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn versions_must_grow_with_real_time() {
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 7 }),
            at(20, Some(30), create("b", "1"), Outcome::Written { rev: 6 }),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn a_list_behind_an_acknowledged_write_is_caught() {
        let ops = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(
                20,
                Some(30),
                Call::List,
                Outcome::Listed {
                    items: vec![],
                    rev: 4,
                },
            ),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn a_transaction_is_all_or_nothing() {
        let txn = Call::Txn {
            writes: vec![
                TxnWrite::Update {
                    key: "a".into(),
                    value: "2".into(),
                    expected: 5,
                },
                TxnWrite::Create {
                    key: "b".into(),
                    value: "1".into(),
                },
            ],
        };
        let half = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(20, Some(30), txn.clone(), Outcome::Written { rev: 6 }),
            at(40, Some(50), get("a"), found("2", 6)),
            at(60, Some(70), get("b"), Outcome::Absent),
        ];
        assert!(!linearizable(&half));
        let whole = [
            at(0, Some(10), create("a", "1"), Outcome::Written { rev: 5 }),
            at(20, Some(30), txn, Outcome::Written { rev: 6 }),
            at(40, Some(50), get("b"), found("1", 6)),
        ];
        assert!(linearizable(&whole));
    }
}
