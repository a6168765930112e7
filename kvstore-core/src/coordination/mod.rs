//! Coordination built once on the backend contract (leases + transactions + watches), so every
//! backend behaves the same: ephemeral objects, fair fenced locks, and leader election.
//!
//! Locks and elections share one algorithm: every contender writes a key under the lock's (or
//! election's) prefix on a lease it keeps alive; the live key with the lowest create revision
//! holds the lock or leads. A contender believes it holds only while its lease is alive, and it
//! declares the lease lost before the server can have expired it, so two contenders never both
//! believe they hold. The holder's create revision is a fencing token for guarded writes.

mod campaign;
mod contest;
mod ephemeral;
mod lock;
mod queue;

use std::time::Duration;

pub use contest::{Contest, ContestEvent};
pub use ephemeral::Ephemeral;
pub use lock::LockGuard;

/// The shortest TTL locks, elections and ephemeral objects accept: below it a renewal every
/// third of the TTL, with a safety margin, cannot be relied on.
pub const MIN_TTL: Duration = Duration::from_secs(2);
