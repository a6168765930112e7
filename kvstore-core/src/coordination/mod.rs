//! Coordination built once on the backend contract (leases, transactions, watches), so it
//! behaves the same on every backend and is proven by the same conformance cases — the shape of
//! etcd's `client/v3/concurrency`:
//!
//! - [`Session`]: a lease kept alive in the background, which says when it is lost;
//! - [`Ephemeral`]: an object bound to a session's lease (service registration, presence);
//! - [`Lock`] → [`LockGuard`]: a fair, fenced lock;
//! - [`Election`]: leader election with a stream of [`ElectionEvent`]s
//!   ([`Store::contest`](crate::Store::contest) is the Go-facing shortcut), and [`Observer`]:
//!   who leads, followed without campaigning ([`Election::observe`]);
//! - [`contenders`]: a lock's or an election's queue read once, for operators' tools.
//!
//! TTLs below [`MIN_TTL`] are refused: below it a renewal every third of the TTL is not
//! reliable.
//!
//! # The algorithm
//!
//! Locks and elections alike stand in a *queue*: every contender writes `prefix/<lease id>` on
//! its own lease, kept alive by a session; the live key with the lowest create revision holds
//! the lock or leads. Lock waiters watch only the key just ahead of them (no thundering herd);
//! election contenders watch the whole prefix so all of them know the leader. It is safe
//! because
//! 1. create revisions are unique and only grow, so the store agrees on one head at any
//!    revision;
//! 2. a contender acts as holder only while its lease is alive *by its own reckoning*, which
//!    ends before the server can expire the lease (see [`Session`]);
//! 3. the next contender takes over only after it has seen the old key deleted, i.e. after the
//!    old lease was revoked or expired; and
//! 4. for the cases this cannot cover (a paused process, a key deleted by hand), the holder's
//!    create revision is a *fencing token* that guarded writes compare in the same transaction
//!    ([`LockGuard::fence`], [`Election::fence`]), so a deposed holder's write fails.
//!
//! A contender that starts with the id of a live election entry (a leader restarted within its
//! TTL) takes that entry over instead of queueing again, so a restart causes no change of
//! leader; ids must therefore be unique among live contenders.

mod contenders;
mod election;
mod ephemeral;
mod leased_key;
mod lock;
mod queue;
mod session;

use std::time::Duration;

pub use contenders::{contenders, Contender};
pub use election::{Election, ElectionEvent, LossReason, Observer};
pub use ephemeral::Ephemeral;
pub use lock::{Lock, LockGuard};
pub use session::{LeaseLoss, LeaseState, Session};

use crate::error::{Error, Result};

/// The shortest TTL locks, elections and ephemeral objects accept: below it a renewal every
/// third of the TTL, with a safety margin, cannot be relied on.
pub const MIN_TTL: Duration = Duration::from_secs(2);

/// Refuses a TTL too short to be renewed safely.
fn check_ttl(what: &str, ttl: Duration) -> Result<()> {
    if ttl < MIN_TTL {
        return Err(Error::InvalidArgument(format!(
            "{what} ttl {ttl:?} is below the safe minimum of {MIN_TTL:?}"
        )));
    }
    Ok(())
}
