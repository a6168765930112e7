//! The lease vocabulary: keys attached to a lease are deleted when it expires or is revoked.

use std::fmt;
use std::time::Duration;

/// Identifies a lease granted by a backend (`LeaseId(0)`, the default, is etcd's "no lease").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// A lease: keys attached to it are deleted when it expires or is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The lease's id.
    pub id: LeaseId,
    /// The time to live the backend granted.
    pub ttl: Duration,
}

/// Rounds a time to live up to whole seconds, at least one: the granularity of etcd leases,
/// which every backend follows so TTLs behave the same everywhere.
pub fn whole_seconds(ttl: Duration) -> Duration {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}
