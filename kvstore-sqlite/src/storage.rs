//! The engine's storage on a SQLite file.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, BoxStream, StreamExt};
use kvstore_core::engine::{
    Append, Appended, Commit, Head, Snapshot, Storage, StoredLease, Touched,
};
use kvstore_core::{LeaseId, Result};

use crate::pool::Pool;
use crate::tables;

/// The storage of a [`SqliteBackend`](crate::SqliteBackend): live keys, the log and leases in
/// the tables of one SQLite file ([`schema`](crate#schema)).
pub struct SqliteStorage {
    pub(crate) pool: Arc<Pool>,
    poll_interval: Duration,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.pool.path())
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    pub(crate) fn new(pool: Pool, poll_interval: Duration) -> Self {
        SqliteStorage {
            pool: Arc::new(pool),
            poll_interval,
        }
    }
}

/// The store's clock: the machine's, shared by every process using the file (milliseconds of
/// the Unix epoch). A clock set back makes leases last longer, set forward shorter.
fn wall_clock() -> Duration {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(since_epoch.as_millis() as u64)
}

impl Storage for SqliteStorage {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn head(&self) -> Result<Head> {
        self.pool.read(tables::head).await
    }

    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        let keys = keys.to_vec();
        self.pool.read(move |conn| tables::get(conn, &keys)).await
    }

    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        let (start, end) = (start.to_owned(), end.to_owned());
        self.pool
            .read(move |conn| tables::range(conn, &start, &end, limit))
            .await
    }

    async fn append(&self, append: &Append) -> Result<Appended> {
        let append = append.clone();
        self.pool
            .write(move |conn| {
                let appended = tables::append(conn, &append, wall_clock())?;
                Ok((appended, appended == Appended::Done))
            })
            .await
    }

    async fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        self.pool
            .read(move |conn| tables::log(conn, from, to))
            .await
    }

    fn head_changes(&self) -> BoxStream<'static, u64> {
        // Other processes may write the file: its head is read every poll interval.
        let pool = Arc::downgrade(&self.pool);
        let interval = self.poll_interval;
        stream::unfold((pool, 0), move |(pool, last)| poll(pool, last, interval)).boxed()
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        self.pool
            .write(move |conn| Ok((tables::compact(conn, revision)?, true)))
            .await
    }

    async fn create_lease(&self, ttl: Duration) -> Result<StoredLease> {
        self.pool
            .write(move |conn| Ok((tables::create_lease(conn, ttl, wall_clock())?, true)))
            .await
    }

    async fn touch_lease(&self, id: LeaseId) -> Result<Option<Touched>> {
        self.pool
            .write(move |conn| Ok((tables::touch_lease(conn, id, wall_clock())?, true)))
            .await
    }

    async fn leases(&self) -> Result<Vec<StoredLease>> {
        self.pool.read(tables::leases).await
    }

    async fn lease_keys(&self, id: LeaseId) -> Result<Option<Snapshot>> {
        self.pool
            .read(move |conn| tables::lease_keys(conn, id))
            .await
    }

    async fn now(&self) -> Result<Duration> {
        Ok(wall_clock())
    }
}

/// Waits `interval`, then reads the head until it is past `last`; ends with the storage.
async fn poll(
    pool: Weak<Pool>,
    mut last: u64,
    interval: Duration,
) -> Option<(u64, (Weak<Pool>, u64))> {
    loop {
        tokio::time::sleep(interval).await;
        let strong = pool.upgrade()?;
        match strong.read(tables::head).await {
            Ok(head) if head.revision > last => {
                last = head.revision;
                return Some((last, (pool, last)));
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "reading the SQLite head failed"),
        }
    }
}
