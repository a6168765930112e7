//! kvstore on SQLite against raw `rusqlite` doing the same durable work, side by side in one
//! run: the same file settings (WAL, `synchronous = NORMAL`), the same JSON bytes, the
//! statements a hand-written store would issue (`common/sql.rs`), each call on tokio's
//! blocking threads — reads on a few connections, writes on one, one transaction per write.
//! The writes again with `synchronous = FULL` (`sqlite-full/…`), where every commit waits for
//! the disk and group commit shows.
//!
//! ```sh
//! cargo bench --bench sqlite
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore::sqlite::Synchronous;
use kvstore::{Json, SqliteBackend, SqliteConfig, Store};
use rusqlite::{params, Connection};
use tokio::runtime::Runtime;

use common::sql::{setup, side_by_side, Raw, ALL, WRITES};

/// The hand-written store on rusqlite.
struct RawSqlite {
    path: PathBuf,
    synchronous: Synchronous,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

fn connect(path: &Path, synchronous: Synchronous) -> Connection {
    let conn = Connection::open(path).expect("open");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .expect("WAL");
    let level = match synchronous {
        Synchronous::Full => "FULL",
        _ => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level)
        .expect("synchronous");
    conn
}

impl RawSqlite {
    fn open(path: &Path, synchronous: Synchronous) -> RawSqlite {
        let writer = connect(path, synchronous);
        writer
            .execute_batch(
                "CREATE TABLE objects (key TEXT PRIMARY KEY, value BLOB NOT NULL, \
                 version INTEGER NOT NULL) WITHOUT ROWID",
            )
            .expect("table");
        RawSqlite {
            path: path.to_owned(),
            synchronous,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> T {
        let (readers, path) = (Arc::clone(&self.readers), self.path.clone());
        let synchronous = self.synchronous;
        tokio::task::spawn_blocking(move || {
            let taken = readers.lock().unwrap().pop();
            let conn = taken.unwrap_or_else(|| connect(&path, synchronous));
            let answer = read(&conn);
            readers.lock().unwrap().push(conn);
            answer
        })
        .await
        .expect("blocking call")
        .expect("read")
    }

    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> T {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || write(&writer.lock().unwrap()))
            .await
            .expect("blocking call")
            .expect("write")
    }
}

impl Raw for RawSqlite {
    async fn fill(&self, objects: Vec<(String, Vec<u8>)>) {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            for (key, value) in &objects {
                tx.execute(
                    "INSERT INTO objects (key, value, version) VALUES (?1, ?2, 1)",
                    params![key, value],
                )?;
            }
            tx.commit()
        })
        .await
    }

    async fn get(&self, key: String) -> Vec<u8> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM objects WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
        })
        .await
    }

    async fn get_versioned(&self, key: String) -> (Vec<u8>, i64) {
        self.read(move |conn| {
            conn.prepare_cached("SELECT value, version FROM objects WHERE key = ?1")?
                .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
        })
        .await
    }

    async fn create(&self, key: String, value: Vec<u8>) {
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO objects (key, value, version) VALUES (?1, ?2, 1)")?
                .execute(params![key, value])
        })
        .await;
    }

    async fn compare_and_swap(&self, key: String, value: Vec<u8>, version: i64) -> bool {
        let written = self
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE objects SET value = ?2, version = version + 1 \
                     WHERE key = ?1 AND version = ?3",
                )?
                .execute(params![key, value, version])
            })
            .await;
        written == 1
    }

    async fn list(&self, start: String, end: String) -> Vec<Vec<u8>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT value FROM objects WHERE key >= ?1 AND key < ?2 ORDER BY key",
            )?
            .query_map([start, end], |row| row.get(0))?
            .collect()
        })
        .await
    }
}

fn benches(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    for (synchronous, name, ops) in [
        (Synchronous::Normal, "sqlite", ALL),
        (Synchronous::Full, "sqlite-full", WRITES),
    ] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let s = runtime.block_on(async {
            let config = SqliteConfig::new(dir.path().join("kvstore.db")).synchronous(synchronous);
            let backend = SqliteBackend::open(config).await.expect("open");
            let raw = RawSqlite::open(&dir.path().join("raw.db"), synchronous);
            setup(Store::new(backend, Json), raw).await
        });
        side_by_side(c, name, &runtime, &s, ops);
    }
}

criterion_group!(sqlite_benches, benches);
criterion_main!(sqlite_benches);
