//! What a contender learns and what the campaign shares with its handle.

use std::fmt;

use tokio::sync::watch;

use crate::coordination::session::{LeaseLoss, LeaseState};

/// What a contender learns about its election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionEvent {
    /// This contender leads now. Guard writes with
    /// [`Election::fence`](crate::coordination::Election::fence); the token increases with
    /// every election.
    Elected {
        /// The leader entry's create revision.
        fencing_token: u64,
    },
    /// This contender no longer leads: stop acting as leader. It stays in the election (at the
    /// back of the queue) unless stopped.
    Lost {
        /// Why.
        reason: LossReason,
    },
    /// Another contender leads now.
    Changed {
        /// The leader's id.
        leader: String,
    },
}

/// Why a leader stopped leading.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// It resigned.
    Resigned,
    /// It left the election (stopped, or its handle was dropped).
    Stopped,
    /// Its lease was lost.
    Lease(LeaseLoss),
    /// Its entry was deleted (by hand, or by a revoke elsewhere).
    EntryDeleted,
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::Resigned => f.write_str("resigned"),
            LossReason::Stopped => f.write_str("left the election"),
            LossReason::Lease(loss) => loss.fmt(f),
            LossReason::EntryDeleted => f.write_str("the election entry was deleted"),
        }
    }
}

/// What the campaign shares with the handle.
#[derive(Debug, Clone, Default)]
pub(super) struct Status {
    /// The id of the contender that leads, as last seen.
    pub(super) leader: Option<String>,
    /// Set while this contender leads.
    pub(super) leading: Option<Leading>,
}

/// This contender's leadership.
#[derive(Debug, Clone)]
pub(super) struct Leading {
    pub(super) key: String,
    pub(super) token: u64,
    pub(super) lease: watch::Receiver<LeaseState>,
}
