//! Leases, kept in ZooKeeper rather than in a session: `leases/<id>` holds the time to live,
//! and its znode's mtime — stamped by the ZooKeeper leader at each renewal — is the start of
//! the current term, so every client judges terms on one clock, the leader's (read by touching
//! `clock`). The keys attached to a lease are its children (`leases/<id>/<key>`), created and
//! deleted in the same `multi` as the keys. The engine decides when a term is over and ends
//! the lease through its writer: the delete events, the keys, the attachments and the lease
//! znode at the version judged expired, in one `multi` (see `append`).
//!
//! Leases are not ZooKeeper sessions: a session's timeout is bounded by the server's tick, and
//! its client pings on its own, so a lease the application stopped renewing would never expire.

use std::time::Duration;

use futures::future::try_join_all;
use kvstore_core::engine::{StoredLease, Touched};
use kvstore_core::{Error, LeaseId, Result};
use zookeeper_client as zk;

use crate::inner::Inner;
use crate::records::{decode, encode, LeaseRecord};

fn stored(id: i64, record: &LeaseRecord, mtime: i64) -> StoredLease {
    StoredLease {
        id: LeaseId(id),
        ttl: Duration::from_secs(record.ttl),
        renewed: millis(mtime),
    }
}

/// A time of the leader's clock (milliseconds since the epoch).
fn millis(mtime: i64) -> Duration {
    Duration::from_millis(u64::try_from(mtime).unwrap_or(0))
}

/// Creates a lease of `ttl` under an id no other lease has.
pub(crate) async fn create(inner: &Inner, ttl: Duration) -> Result<StoredLease> {
    let record = LeaseRecord { ttl: ttl.as_secs() };
    let data = encode(&record);
    loop {
        // Positive, never 0, unlikely to collide (and retried if it does).
        let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 2) as i64 + 1;
        let client = inner.conn.client();
        let path = inner.layout.lease(id);
        let created = inner
            .conn
            .call("granting a lease", async {
                match client.create(&path, &data, &inner.create_options()).await {
                    Ok((stat, _)) => Ok(Some(stat)),
                    Err(zk::Error::NodeExists) => Ok(None),
                    Err(err) => Err(err),
                }
            })
            .await?;
        if let Some(stat) = created {
            return Ok(stored(id, &record, stat.mtime));
        }
    }
}

/// Begins a new term of a lease, on the leader's clock.
pub(crate) async fn touch(inner: &Inner, id: LeaseId) -> Result<Option<Touched>> {
    let path = inner.layout.lease(id.0);
    loop {
        let client = inner.conn.client();
        let Some((data, before)) = inner
            .conn
            .call_maybe("reading a lease", client.get_data(&path))
            .await?
        else {
            return Ok(None);
        };
        let record: LeaseRecord = decode(&path, &data)?;
        let renewed = inner
            .conn
            .call_maybe("renewing a lease", async {
                match client.set_data(&path, &data, Some(before.version)).await {
                    Ok(stat) => Ok(Some(stat)),
                    Err(zk::Error::BadVersion) => Ok(None),
                    Err(err) => Err(err),
                }
            })
            .await?;
        match renewed {
            // Gone since it was read.
            None => return Ok(None),
            // Renewed by another call meanwhile: read it again.
            Some(None) => continue,
            Some(Some(after)) => {
                return Ok(Some(Touched {
                    before: stored(id.0, &record, before.mtime),
                    renewed: millis(after.mtime),
                }))
            }
        }
    }
}

/// Every lease, with the start of its term.
pub(crate) async fn list(inner: &Inner) -> Result<Vec<StoredLease>> {
    let client = inner.conn.client();
    let dir = inner.layout.leases_dir();
    let names = inner
        .conn
        .call("listing leases", client.list_children(&dir))
        .await?;
    let reads = names
        .iter()
        .filter_map(|name| name.parse::<i64>().ok())
        .map(|id| {
            let path = inner.layout.lease(id);
            let request = client.get_data(&path);
            async move {
                match inner.conn.call_maybe("reading a lease", request).await? {
                    Some((data, stat)) => {
                        let record = decode::<LeaseRecord>(&path, &data)?;
                        Ok::<_, Error>(Some(stored(id, &record, stat.mtime)))
                    }
                    None => Ok(None),
                }
            }
        });
    Ok(try_join_all(reads).await?.into_iter().flatten().collect())
}

/// The leader's clock now: the mtime it stamps on `clock` when touched.
pub(crate) async fn now(inner: &Inner) -> Result<Duration> {
    let client = inner.conn.client();
    let stat = inner
        .conn
        .call(
            "reading the leader's clock",
            client.set_data(&inner.layout.clock(), &[], None),
        )
        .await?;
    Ok(millis(stat.mtime))
}
