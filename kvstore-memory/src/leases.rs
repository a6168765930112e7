//! The lease table: time to live, deadline, attached keys.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use kvstore_core::{Error, LeaseId, Result};
use tokio::time::Instant;

#[derive(Debug)]
struct Entry {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

/// Leases by id.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    last_id: i64,
    table: HashMap<LeaseId, Entry>,
}

impl Leases {
    pub fn grant(&mut self, ttl: Duration, now: Instant) -> LeaseId {
        self.last_id += 1;
        let id = LeaseId(self.last_id);
        self.table.insert(
            id,
            Entry {
                ttl,
                deadline: now + ttl,
                keys: BTreeSet::new(),
            },
        );
        id
    }

    /// Fails unless `id` is alive at `now`.
    pub fn check_alive(&self, id: LeaseId, now: Instant) -> Result<()> {
        match self.table.get(&id) {
            Some(entry) if entry.deadline > now => Ok(()),
            _ => Err(Error::LeaseNotFound { lease: id }),
        }
    }

    /// Renews `id` for its full ttl.
    pub fn renew(&mut self, id: LeaseId, now: Instant) -> Result<Duration> {
        match self.table.get_mut(&id) {
            Some(entry) if entry.deadline > now => {
                entry.deadline = now + entry.ttl;
                Ok(entry.ttl)
            }
            _ => Err(Error::LeaseNotFound { lease: id }),
        }
    }

    /// Removes `id`, returning its keys.
    pub fn remove(&mut self, id: LeaseId) -> Result<BTreeSet<String>> {
        self.table
            .remove(&id)
            .map(|entry| entry.keys)
            .ok_or(Error::LeaseNotFound { lease: id })
    }

    pub fn attach(&mut self, id: LeaseId, key: &str) {
        if let Some(entry) = self.table.get_mut(&id) {
            entry.keys.insert(key.to_owned());
        }
    }

    pub fn detach(&mut self, id: LeaseId, key: &str) {
        if let Some(entry) = self.table.get_mut(&id) {
            entry.keys.remove(key);
        }
    }

    /// Leases whose deadline has passed at `now`.
    pub fn due(&self, now: Instant) -> Vec<LeaseId> {
        self.table
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.table.values().map(|e| e.deadline).min()
    }
}
