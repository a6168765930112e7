//! The connections to the file: one that writes, a few that read, each call run on tokio's
//! blocking threads (SQLite's calls block: on the disk, and on other processes' locks).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvstore_core::{Error, Result};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::config::{SqliteConfig, Synchronous};
use crate::error::{store_error, Sql};
use crate::schema;

/// The open connections to one file.
pub(crate) struct Pool {
    path: PathBuf,
    config: SqliteConfig,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per reading connection.
    reading: Semaphore,
}

impl Pool {
    /// Opens (creating if missing) the database and its tables. Blocks: call it on a blocking
    /// thread.
    pub(crate) fn open(config: SqliteConfig) -> Result<Pool> {
        let path = config.path.clone();
        let failed = |failure| store_error(&path, failure);
        let mut writer = connect(&config).map_err(failed)?;
        schema::ensure(&mut writer).map_err(|failure| match store_error(&path, failure) {
            Error::InvalidConfig { message } => Error::InvalidConfig {
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })?;
        let readers = config.readers.max(1);
        Ok(Pool {
            path,
            config,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            reading: Semaphore::new(readers),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` in a read transaction: everything it reads is one snapshot.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        let _permit = self.reading.acquire().await.map_err(|_| closed())?;
        let pool = Arc::clone(self);
        blocking(move || {
            let taken = pool.readers.lock().pop();
            let mut conn = match taken {
                Some(conn) => conn,
                None => connect(&pool.config).map_err(|f| store_error(&pool.path, f))?,
            };
            let answer = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let answer = read(&tx)?;
                tx.commit()?;
                Ok(answer)
            })();
            pool.readers.lock().push(conn);
            answer.map_err(|f| store_error(&pool.path, f))
        })
        .await
    }

    /// Runs `write` in a write transaction, committed only when it answers `Ok((_, true))`.
    pub(crate) async fn write<T, F>(self: &Arc<Self>, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<(T, bool)> + Send + 'static,
    {
        let pool = Arc::clone(self);
        blocking(move || {
            let mut conn = pool.writer.lock();
            let answer = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let (answer, commit) = write(&tx)?;
                if commit {
                    tx.commit()?;
                }
                Ok(answer)
            })();
            answer.map_err(|f| store_error(&pool.path, f))
        })
        .await
    }
}

/// Runs `call` on a blocking thread.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|err| Error::Backend {
            message: format!("a SQLite call did not finish: {err}"),
            source: None,
        })?
}

fn closed() -> Error {
    Error::Closed {
        what: "the SQLite store".to_owned(),
    }
}

/// A connection with the store's settings: WAL, the chosen synchronous level, the busy timeout.
fn connect(config: &SqliteConfig) -> Sql<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&config.path, flags)?;
    conn.busy_timeout(config.busy_timeout)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::InvalidConfig {
            message: format!(
                "{}: the database cannot use write-ahead logging (journal mode {mode})",
                config.path.display()
            ),
        }
        .into());
    }
    let synchronous = match config.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}
