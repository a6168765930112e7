//! Leases, kept in ZooKeeper rather than in a session: `leases/<id>` holds the time to live,
//! and its znode's mtime — stamped by the ZooKeeper leader at each renewal — is the start of
//! the current term. The keys attached to a lease are its children (`leases/<id>/<key>`),
//! created and deleted in the same `multi` as the keys.
//!
//! Every connected client checks for expired leases: it reads the leases' mtimes, and when one
//! may be due it touches `clock` to read the leader's time now, so expiry is judged on one
//! clock, whichever client judges. Expiring a lease is one `multi`: the next log entry (a
//! Delete event per key), the keys' znodes, the attachments and the lease znode, deleted at
//! the version that was judged expired. Two clients expiring the same lease race for one
//! revision; the loser finds the lease gone, so the Delete events are written exactly once. A
//! renewal that came in between changes the version, and the expiry fails as it should.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::try_join_all;
use kvstore_core::backend::{whole_seconds, Lease, LeaseId};
use kvstore_core::{Error, Result};
use zookeeper_client as zk;

use crate::connection::map_error;
use crate::fetch;
use crate::inner::Inner;
use crate::layout::unescape;
use crate::layout::PERSISTENT;
use crate::records::{
    decode, decode_counter, encode, encode_counter, KeyRecord, LeaseRecord, LogEntry, LoggedEvent,
};

/// Grants a lease of `ttl`, rounded up to whole seconds.
pub(crate) async fn grant(inner: &Inner, ttl: Duration) -> Result<Lease> {
    let ttl = whole_seconds(ttl);
    let record = encode(&LeaseRecord { ttl: ttl.as_secs() });
    loop {
        // Positive, never 0, unlikely to collide (and retried if it does).
        let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 2) as i64 + 1;
        let client = inner.conn.client();
        let path = inner.layout.lease(id);
        match inner
            .conn
            .call("granting a lease", async {
                match client.create(&path, &record, &PERSISTENT).await {
                    Ok(_) => Ok(true),
                    Err(zk::Error::NodeExists) => Ok(false),
                    Err(err) => Err(err),
                }
            })
            .await?
        {
            true => {
                return Ok(Lease {
                    id: LeaseId(id),
                    ttl,
                })
            }
            false => continue,
        }
    }
}

/// Renews a lease for its full time to live.
pub(crate) async fn renew(inner: &Inner, id: LeaseId) -> Result<Duration> {
    let path = inner.layout.lease(id.0);
    loop {
        let client = inner.conn.client();
        let Some((data, before)) = inner
            .conn
            .call_maybe("reading a lease", client.get_data(&path))
            .await?
        else {
            return Err(Error::LeaseNotFound { lease: id });
        };
        let record: LeaseRecord = decode(&path, &data)?;
        let renewed = inner
            .conn
            .call("renewing a lease", async {
                match client.set_data(&path, &data, Some(before.version)).await {
                    Ok(stat) => Ok(Some(stat)),
                    Err(zk::Error::BadVersion) => Ok(None),
                    Err(err) => Err(err),
                }
            })
            .await;
        match renewed {
            Ok(Some(after)) if expired(&record, before.mtime, after.mtime) => {
                // Renewed after its time ran out, before a client expired it: it is over.
                let _ = revoke(inner, id, Some(after.version)).await;
                return Err(Error::LeaseNotFound { lease: id });
            }
            Ok(Some(_)) => return Ok(Duration::from_secs(record.ttl)),
            Ok(None) => continue,
            Err(err) if is_no_node(&err) => return Err(Error::LeaseNotFound { lease: id }),
            Err(err) => return Err(err),
        }
    }
}

fn is_no_node(err: &Error) -> bool {
    matches!(err, Error::Backend { source: Some(source), .. }
        if source.downcast_ref::<zk::Error>() == Some(&zk::Error::NoNode))
}

/// Whether a lease renewed at `renewed` (leader's clock, ms) is over at `now`.
fn expired(record: &LeaseRecord, renewed: i64, now: i64) -> bool {
    now.saturating_sub(renewed) >= (record.ttl as i64).saturating_mul(1000)
}

/// Deletes a lease and its keys (one revision, when it has keys). With `version`, only if the
/// lease znode is still at that version (not renewed since it was judged expired); returns
/// whether this call removed it.
pub(crate) async fn revoke(inner: &Inner, id: LeaseId, version: Option<i32>) -> Result<bool> {
    let _one_writer = inner.write_lock.lock().await;
    let lease_path = inner.layout.lease(id.0);
    let head_path = inner.layout.head();
    loop {
        let client = inner.conn.client();
        let head = client.get_data(&head_path);
        let children = client.list_children(&lease_path);
        let (head, _) = inner.conn.call("reading the head revision", head).await?;
        let revision = decode_counter(&head_path, &head)?;
        let Some(children) = inner
            .conn
            .call_maybe("listing a lease's keys", children)
            .await?
        else {
            return match version {
                Some(_) => Ok(false),
                None => Err(Error::LeaseNotFound { lease: id }),
            };
        };
        let keys: Vec<(String, String)> = children
            .into_iter()
            .filter_map(|name| unescape(&name).map(|key| (name, key)))
            .collect();
        let records: Vec<Option<KeyRecord>> = fetch::records(
            inner,
            &client,
            keys.iter().map(|(_, key)| inner.layout.key(key)),
            "reading a key",
        )
        .await?;
        let events: Vec<LoggedEvent> = keys
            .iter()
            .zip(&records)
            .filter_map(|((_, key), record)| {
                record
                    .as_ref()
                    .filter(|r| r.lease == Some(id.0))
                    .map(|r| LoggedEvent {
                        key: key.clone(),
                        put: None,
                        prev: Some(r.clone()),
                    })
            })
            .collect();
        let mut multi = client.new_multi_writer();
        let bad = |err: zk::Error| map_error("building a lease revocation", err);
        if !events.is_empty() {
            multi
                .add_create(
                    &inner.layout.log(revision + 1),
                    &encode(&LogEntry {
                        events: events.clone(),
                    }),
                    &PERSISTENT,
                )
                .map_err(bad)?;
            multi
                .add_set_data(&head_path, &encode_counter(revision + 1), None)
                .map_err(bad)?;
            for event in &events {
                multi
                    .add_delete(&inner.layout.key(&event.key), None)
                    .map_err(bad)?;
            }
        }
        for (name, _) in &keys {
            multi
                .add_delete(&format!("{lease_path}/{name}"), None)
                .map_err(bad)?;
        }
        let lease_op = multi_len(&events, &keys);
        multi.add_delete(&lease_path, version).map_err(bad)?;
        match tokio::time::timeout(inner.conn.request_timeout(), multi.commit()).await {
            Ok(Ok(_)) => {
                if !events.is_empty() {
                    tracing::debug!(
                        lease = id.0,
                        revision = revision + 1,
                        keys = events.len(),
                        "zookeeper: lease ended"
                    );
                }
                return Ok(true);
            }
            Ok(Err(zk::MultiWriteError::OperationFailed { index, source })) => match source {
                // Another writer took the revision, or attached a key meanwhile: look again.
                zk::Error::NodeExists if index == 0 && !events.is_empty() => continue,
                zk::Error::NotEmpty if index == lease_op => continue,
                zk::Error::BadVersion if index == lease_op => return Ok(false),
                zk::Error::NoNode if index == lease_op => {
                    return match version {
                        Some(_) => Ok(false),
                        None => Err(Error::LeaseNotFound { lease: id }),
                    }
                }
                // A key changed or was detached since it was read (only possible when another
                // client wrote without taking a revision): look again.
                zk::Error::NoNode => continue,
                source => {
                    return Err(Error::Backend {
                        message: format!(
                            "zookeeper: revoking lease {}: operation {index} failed: {source}",
                            id.0
                        ),
                        source: Some(Box::new(source)),
                    })
                }
            },
            Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
                inner.conn.after_error(&source).await;
                return Err(map_error("revoking a lease", source));
            }
            Err(_) => {
                return Err(Error::Unavailable {
                    message: format!(
                        "zookeeper: revoking a lease: no answer within {:?}",
                        inner.conn.request_timeout()
                    ),
                    source: None,
                })
            }
        }
    }
}

fn multi_len(events: &[LoggedEvent], keys: &[(String, String)]) -> usize {
    let log_ops = if events.is_empty() {
        0
    } else {
        2 + events.len()
    };
    log_ops + keys.len()
}

/// Starts this client's check for expired leases; it ends when the backend is dropped.
pub(crate) fn spawn_reaper(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let interval = inner.config.lease_check_interval;
    tokio::spawn(async move {
        let mut offset: Option<i64> = None;
        loop {
            tokio::time::sleep(interval).await;
            let Some(inner) = Weak::upgrade(&weak) else {
                return;
            };
            if let Err(err) = reap(&inner, &mut offset, interval).await {
                tracing::debug!(%err, "zookeeper: checking for expired leases failed");
            }
        }
    });
}

fn local_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One look for expired leases. `offset` is the leader's clock minus this machine's, as last
/// measured; it only decides when to ask the leader's time, never whether a lease is over.
async fn reap(inner: &Inner, offset: &mut Option<i64>, interval: Duration) -> Result<()> {
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
                        Ok::<_, Error>(Some((id, decode::<LeaseRecord>(&path, &data)?, stat)))
                    }
                    None => Ok(None),
                }
            }
        });
    let leases: Vec<_> = try_join_all(reads).await?.into_iter().flatten().collect();
    let soon = offset.map_or(i64::MAX, |o| {
        local_millis() + o + interval.as_millis() as i64
    });
    if !leases
        .iter()
        .any(|(_, record, stat)| expired(record, stat.mtime, soon))
    {
        return Ok(());
    }
    let clock = inner.layout.clock();
    let local = local_millis();
    let now = inner
        .conn
        .call(
            "reading the leader's clock",
            client.set_data(&clock, &[], None),
        )
        .await?
        .mtime;
    *offset = Some(now - local);
    for (id, record, stat) in leases {
        if expired(&record, stat.mtime, now)
            && revoke(inner, LeaseId(id), Some(stat.version)).await?
        {
            tracing::debug!(lease = id, "zookeeper: expired a lease");
        }
    }
    Ok(())
}
