//! The engine's storage on PostgreSQL tables.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use kvstore_core::backend::Capabilities;
use kvstore_core::engine::rows::{self, Change, Version};
use kvstore_core::engine::{
    Append, Appended, Commit, Head, Snapshot, Storage, StoredLease, Touched,
};
use kvstore_core::{LeaseId, Result};
use tokio_postgres::types::ToSql;

use crate::connection::Shared;
use crate::error::{corrupt, Sent};
use crate::listen;
use crate::rows::{change, get, revision, snapshot};
use crate::statements as sql;

/// The storage of a [`PostgresBackend`](crate::PostgresBackend): live keys, the log and leases
/// in the tables of one schema.
pub struct PostgresStorage {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = &self.shared.config;
        f.debug_struct("PostgresStorage")
            .field("host", &config.host)
            .field("port", &config.port)
            .field("database", &config.database)
            .field("schema", &config.schema)
            .finish_non_exhaustive()
    }
}

/// Reclaims the rows compaction deleted and the versions updates left, in a task of its own (a
/// `VACUUM` takes a while and cannot run in a transaction), one at a time: so the dead rows of
/// the log and the keys stay bounded by what a compaction step leaves, not by how often
/// autovacuum happens to run. A refusal (only a table's owner may vacuum it) is logged:
/// autovacuum remains.
fn vacuum(shared: &Arc<Shared>) {
    if shared.vacuuming.swap(true, Ordering::AcqRel) {
        return;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        // The simple query protocol: VACUUM runs outside any transaction.
        let vacuumed = match shared.pool.get().await {
            Ok(client) => client
                .batch_execute(sql::VACUUM)
                .await
                .map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = vacuumed {
            tracing::debug!(%err, "vacuuming the log after a compaction failed");
        }
        shared.vacuuming.store(false, Ordering::Release);
    });
}

/// The columns of an append, borrowed from its changes (no value is copied): the log's rows,
/// and the keys as the whole batch leaves them (a key changed twice is written once, as it
/// ends: written, or deleted).
#[derive(Default)]
struct Columns<'a> {
    revision: Vec<i64>,
    position: Vec<i32>,
    key: Vec<&'a [u8]>,
    value: Vec<Option<&'a [u8]>>,
    create: Vec<Option<i64>>,
    lease: Vec<Option<i64>>,
    prev_value: Vec<Option<&'a [u8]>>,
    prev_create: Vec<Option<i64>>,
    prev_mod: Vec<Option<i64>>,
    prev_lease: Vec<Option<i64>>,
    put_key: Vec<&'a [u8]>,
    put_value: Vec<&'a [u8]>,
    put_create: Vec<i64>,
    put_mod: Vec<i64>,
    put_lease: Vec<i64>,
    deleted: Vec<&'a [u8]>,
}

impl<'a> Columns<'a> {
    fn of(changes: &'a [Change]) -> Columns<'a> {
        let mut columns = Columns::default();
        let mut last: BTreeMap<&str, Option<&Version>> = BTreeMap::new();
        for change in changes {
            let after = change.after.as_ref();
            let before = change.before.as_ref();
            columns.revision.push(change.revision as i64);
            columns.position.push(change.position as i32);
            columns.key.push(change.key.as_bytes());
            columns.value.push(after.map(|v| &v.value[..]));
            columns.create.push(after.map(|v| v.create_revision as i64));
            columns.lease.push(after.map(|v| v.lease));
            columns.prev_value.push(before.map(|v| &v.value[..]));
            columns
                .prev_create
                .push(before.map(|v| v.create_revision as i64));
            columns.prev_mod.push(before.map(|v| v.mod_revision as i64));
            columns.prev_lease.push(before.map(|v| v.lease));
            last.insert(&change.key, after);
        }
        for (key, version) in last {
            match version {
                Some(v) => {
                    columns.put_key.push(key.as_bytes());
                    columns.put_value.push(&v.value[..]);
                    columns.put_create.push(v.create_revision as i64);
                    columns.put_mod.push(v.mod_revision as i64);
                    columns.put_lease.push(v.lease);
                }
                None => columns.deleted.push(key.as_bytes()),
            }
        }
        columns
    }
}

impl Storage for PostgresStorage {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::basic().with_auth().with_tls()
    }

    async fn head(&self) -> Result<Head> {
        self.shared.head().await
    }

    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let rows = self.shared.query(sql::GET, &[&keys], Sent::Nothing).await?;
        snapshot(&rows, 0)
    }

    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        let wanted = (limit > 0).then(|| limit as i64 + 1);
        let rows = self
            .shared
            .query(
                sql::RANGE,
                &[&start.as_bytes(), &end.as_bytes(), &wanted],
                Sent::Nothing,
            )
            .await?;
        snapshot(&rows, limit)
    }

    async fn append(&self, append: &Append) -> Result<Appended> {
        let changes: Vec<Change> = append.commits.iter().flat_map(|c| Change::of(c)).collect();
        let columns = Columns::of(&changes);
        let from = append.head as i64;
        let to = append.commits.last().map_or(append.head, |c| c.revision) as i64;
        let leases: Vec<i64> = append.leases.iter().map(|l| l.0).collect();
        let revoked = append.revocation.map(|r| r.lease.0);
        let term = append.revocation.and_then(|r| r.renewed).map(rows::millis);
        let params: [&(dyn ToSql + Sync); 22] = [
            &from,
            &to,
            &leases,
            &revoked,
            &term,
            &columns.revision,
            &columns.position,
            &columns.key,
            &columns.value,
            &columns.create,
            &columns.lease,
            &columns.prev_value,
            &columns.prev_create,
            &columns.prev_mod,
            &columns.prev_lease,
            &columns.put_key,
            &columns.put_value,
            &columns.put_create,
            &columns.put_mod,
            &columns.put_lease,
            &self.shared.channel,
            &columns.deleted,
        ];
        let rows = self.shared.query(sql::APPEND, &params, Sent::Write).await?;
        let row = rows
            .first()
            .ok_or_else(|| corrupt("an append answered no row".to_owned()))?;
        if get::<bool>(row, 0)? {
            return Ok(Appended::Done);
        }
        let dead: Vec<i64> = get(row, 1)?;
        if let Some(lease) = dead.first() {
            return Ok(Appended::LeaseMissing(LeaseId(*lease)));
        }
        let found_term: Option<i64> = get(row, 2)?;
        Ok(match (revoked, found_term) {
            (Some(lease), None) => Appended::LeaseMissing(LeaseId(lease)),
            (Some(_), Some(found)) if term.is_some_and(|t| t != found) => Appended::LeaseRenewed,
            _ => Appended::HeadMoved,
        })
    }

    async fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        let (from_, to_) = (from as i64, to as i64);
        let rows = self
            .shared
            .query(sql::LOG, &[&from_, &to_], Sent::Nothing)
            .await?;
        let first = rows
            .first()
            .ok_or_else(|| corrupt("kvstore_meta has no row".to_owned()))?;
        let compacted = revision(first, 0)?;
        if from < compacted {
            return Err(kvstore_core::Error::Gone {
                revision: from,
                compacted,
            });
        }
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            changes.extend(change(row)?);
        }
        rows::commits(changes)
    }

    fn head_changes(&self) -> BoxStream<'static, u64> {
        listen::head_changes(&self.shared)
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        let revision = revision as i64;
        self.shared
            .query(sql::COMPACT, &[&revision], Sent::Write)
            .await?;
        vacuum(&self.shared);
        Ok(())
    }

    async fn create_lease(&self, ttl: Duration) -> Result<StoredLease> {
        let ttl_ms = rows::millis(ttl);
        let rows = self
            .shared
            .query(sql::CREATE_LEASE, &[&ttl_ms], Sent::Write)
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| corrupt("a lease grant answered no row".to_owned()))?;
        Ok(rows::lease(get(row, 0)?, ttl_ms, get(row, 1)?))
    }

    async fn touch_lease(&self, id: LeaseId) -> Result<Option<Touched>> {
        let rows = self
            .shared
            .query(sql::TOUCH_LEASE, &[&id.0], Sent::Write)
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let ttl_ms: i64 = get(row, 0)?;
        let renewed: i64 = get(row, 2)?;
        Ok(Some(Touched {
            before: rows::lease(id.0, ttl_ms, get(row, 1)?),
            renewed: Duration::from_millis(renewed.max(0) as u64),
        }))
    }

    async fn leases(&self) -> Result<Vec<StoredLease>> {
        let rows = self.shared.query(sql::LEASES, &[], Sent::Nothing).await?;
        rows.iter()
            .map(|row| Ok(rows::lease(get(row, 0)?, get(row, 1)?, get(row, 2)?)))
            .collect()
    }

    async fn lease_keys(&self, id: LeaseId) -> Result<Option<Snapshot>> {
        let rows = self
            .shared
            .query(sql::LEASE_KEYS, &[&id.0], Sent::Nothing)
            .await?;
        let first = rows
            .first()
            .ok_or_else(|| corrupt("kvstore_meta has no row".to_owned()))?;
        if !get::<bool>(first, 7)? {
            return Ok(None);
        }
        snapshot(&rows, 0).map(Some)
    }

    async fn now(&self) -> Result<Duration> {
        let rows = self.shared.query(sql::NOW, &[], Sent::Nothing).await?;
        let row = rows
            .first()
            .ok_or_else(|| corrupt("the clock answered no row".to_owned()))?;
        let now: i64 = get(row, 0)?;
        Ok(Duration::from_millis(now.max(0) as u64))
    }
}
