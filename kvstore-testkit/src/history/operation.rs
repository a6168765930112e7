//! What a recorded history holds: each client's calls, when they began and ended, and what
//! they answered.

use serde::{Deserialize, Serialize};

/// One call a client made, with its answer and the times around it (nanoseconds since the
/// run began, on one clock for every client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The client that made the call.
    pub client: usize,
    /// When the call began.
    pub invoke: u64,
    /// When the answer came; `None` when none came ([`Outcome::Ambiguous`]): the call may
    /// take effect at any time after it began, or never.
    pub ret: Option<u64>,
    /// What was asked.
    pub call: Call,
    /// What was answered.
    pub outcome: Outcome,
}

/// A call on the store, in the terms of the model: keys are names under the run's prefix,
/// values are strings no other write of the run writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// `create`.
    Create {
        /// The name.
        key: String,
        /// The value written.
        value: String,
    },
    /// `get`, from the store, or (`cached`) a consistent read from a watch cache.
    Get {
        /// The name.
        key: String,
        /// Whether the read was `Cache::consistent_get`.
        cached: bool,
    },
    /// A list of every object of the run.
    List,
    /// `update` with a resource version (compare-and-swap).
    Update {
        /// The name.
        key: String,
        /// The value written.
        value: String,
        /// The resource version the write is conditioned on.
        expected: u64,
    },
    /// `guaranteed_update` appending `+token` to the value it reads.
    GuaranteedUpdate {
        /// The name.
        key: String,
        /// The suffix's token.
        token: String,
    },
    /// `delete`, with or without a resource version precondition.
    Delete {
        /// The name.
        key: String,
        /// The resource version the delete is conditioned on.
        expected: Option<u64>,
    },
    /// A transaction: every write or none.
    Txn {
        /// Its writes, each with its condition.
        writes: Vec<TxnWrite>,
    },
}

/// One write of a [`Call::Txn`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnWrite {
    /// Create `key` (condition: absent).
    Create {
        /// The name.
        key: String,
        /// The value written.
        value: String,
    },
    /// Replace `key` (condition: at `expected`).
    Update {
        /// The name.
        key: String,
        /// The value written.
        value: String,
        /// The resource version the write is conditioned on.
        expected: u64,
    },
    /// Delete `key` (condition: at `expected`).
    Delete {
        /// The name.
        key: String,
        /// The resource version the delete is conditioned on.
        expected: u64,
    },
}

impl TxnWrite {
    /// The name written.
    pub fn key(&self) -> &str {
        match self {
            TxnWrite::Create { key, .. }
            | TxnWrite::Update { key, .. }
            | TxnWrite::Delete { key, .. } => key,
        }
    }
}

/// An object as read: its value and resource version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The name.
    pub key: String,
    /// The value.
    pub value: String,
    /// The resource version.
    pub rev: u64,
}

/// What a call answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A write took effect at resource version `rev` (a create, update or transaction).
    Written {
        /// The write's resource version.
        rev: u64,
    },
    /// A guaranteed update wrote `value` at `rev`.
    Updated {
        /// The value written.
        value: String,
        /// The write's resource version.
        rev: u64,
    },
    /// A delete removed the object holding `value`, at resource version `rev`.
    Deleted {
        /// The deleted object's value.
        value: String,
        /// The delete's resource version.
        rev: u64,
    },
    /// A get found this value at this resource version.
    Found {
        /// The value.
        value: String,
        /// The object's resource version.
        rev: u64,
    },
    /// A get found nothing.
    Absent,
    /// A list answered these objects (ordered by name) at store revision `rev`.
    Listed {
        /// The objects.
        items: Vec<Item>,
        /// The list's resource version.
        rev: u64,
    },
    /// A create found the key taken.
    AlreadyExists,
    /// A conditional write found another resource version.
    Conflict,
    /// A write found no object.
    NotFound,
    /// A transaction's condition failed; nothing was written.
    Rejected,
    /// The call may or may not have taken effect (the answer was lost, the call timed out or
    /// was dropped in flight).
    Ambiguous,
    /// The call certainly took no effect (the store said it was unavailable, or gave up
    /// before writing); it constrains nothing, and what it would have written must never be
    /// read.
    Failed,
}

impl Call {
    /// Whether the call can change the store.
    pub fn is_write(&self) -> bool {
        !matches!(self, Call::Get { .. } | Call::List)
    }

    /// The names the call touches (`None`: every name).
    pub fn keys(&self) -> Option<Vec<&str>> {
        match self {
            Call::List => None,
            Call::Create { key, .. }
            | Call::Get { key, .. }
            | Call::Update { key, .. }
            | Call::GuaranteedUpdate { key, .. }
            | Call::Delete { key, .. } => Some(vec![key.as_str()]),
            Call::Txn { writes } => Some(writes.iter().map(TxnWrite::key).collect()),
        }
    }
}

impl Operation {
    /// The operation as seen by someone who stopped watching at `time`: a call still in
    /// flight then becomes ambiguous (a write) or is forgotten (a read: it constrains
    /// nothing without its answer).
    pub fn cut_at(&self, time: u64) -> Option<Operation> {
        if self.invoke > time {
            return None;
        }
        match self.ret {
            Some(ret) if ret <= time => Some(self.clone()),
            _ if !self.call.is_write() => None,
            _ if self.outcome == Outcome::Failed => None,
            _ => Some(Operation {
                ret: None,
                outcome: Outcome::Ambiguous,
                ..self.clone()
            }),
        }
    }
}
