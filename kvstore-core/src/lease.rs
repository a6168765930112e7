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

/// What the store knows of a live lease, read without renewing it
/// ([`Store::lease_info`](crate::Store::lease_info)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The lease's id.
    pub id: LeaseId,
    /// The time to live it was granted with.
    pub ttl: Duration,
    /// The time left before it expires unless renewed (etcd counts in whole seconds).
    pub remaining: Duration,
    /// The keys attached to it, in key order.
    pub keys: Vec<String>,
}

impl LeaseInfo {
    /// A lease `id` of `ttl`, `remaining` of it left, holding `keys`.
    pub fn new(id: LeaseId, ttl: Duration, remaining: Duration, mut keys: Vec<String>) -> Self {
        keys.sort();
        LeaseInfo {
            id,
            ttl,
            remaining,
            keys,
        }
    }
}

/// Rounds a time to live up to whole seconds, at least one: the granularity of etcd leases,
/// which every backend follows so TTLs behave the same everywhere.
pub fn whole_seconds(ttl: Duration) -> Duration {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}
