//! The tables (the crate's README documents them), created on first open and checked on every
//! open.

use kvstore_core::Error;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::Sql;

/// The version of the tables this build reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS kvstore_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    compacted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kvstore_keys (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kvstore_keys_by_lease ON kvstore_keys (lease) WHERE lease <> 0;
CREATE TABLE IF NOT EXISTS kvstore_log (
    revision INTEGER NOT NULL,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB,
    create_revision INTEGER,
    lease INTEGER,
    prev_value BLOB,
    prev_create_revision INTEGER,
    prev_mod_revision INTEGER,
    prev_lease INTEGER,
    PRIMARY KEY (revision, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kvstore_leases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ttl_ms INTEGER NOT NULL,
    renewed_ms INTEGER NOT NULL
);
CREATE VIEW IF NOT EXISTS kvstore_objects AS
    SELECT key, CAST(value AS TEXT) AS value, create_revision, mod_revision, lease
    FROM kvstore_keys;
INSERT OR IGNORE INTO kvstore_meta (id, schema_version, compacted) VALUES (1, 1, 0);
";

/// Creates the tables if the file has none, and checks that it holds this schema version.
pub(crate) fn ensure(conn: &mut Connection) -> Sql<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: Option<i64> = match tx
        .query_row(
            "SELECT schema_version FROM kvstore_meta WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()
    {
        Ok(found) => found,
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.contains("no such table") =>
        {
            None
        }
        Err(err) => return Err(err.into()),
    };
    match found {
        None => tx.execute_batch(CREATE)?,
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(Error::InvalidConfig {
                message: format!(
                    "the database holds kvstore schema version {other}; this build reads version {SCHEMA_VERSION}"
                ),
            }
            .into())
        }
    }
    tx.commit()?;
    Ok(())
}
