//! The tables, created on first connect (under an advisory lock, so that clients starting
//! together create them once) and checked on every connect.

use deadpool_postgres::Client;
use kvstore_core::{Error, Result};

use crate::error::{store_error, Sent};

/// The version of the tables this build reads and writes.
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// The advisory lock taken while the tables are created.
const SCHEMA_LOCK: i64 = 0x006b_7673_746f_7265; // "kvstore"

/// The tables, as the crate's README documents them.
pub(crate) const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS kvstore_meta (
    id integer PRIMARY KEY CHECK (id = 1),
    schema_version integer NOT NULL,
    head bigint NOT NULL,
    compacted bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS kvstore_keys (
    key bytea PRIMARY KEY,
    value bytea NOT NULL,
    create_revision bigint NOT NULL,
    mod_revision bigint NOT NULL,
    lease bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS kvstore_keys_by_lease ON kvstore_keys (lease) WHERE lease <> 0;
CREATE TABLE IF NOT EXISTS kvstore_log (
    revision bigint NOT NULL,
    position integer NOT NULL,
    key bytea NOT NULL,
    value bytea,
    create_revision bigint,
    lease bigint,
    prev_value bytea,
    prev_create_revision bigint,
    prev_mod_revision bigint,
    prev_lease bigint,
    PRIMARY KEY (revision, position)
);
CREATE TABLE IF NOT EXISTS kvstore_leases (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ttl_ms bigint NOT NULL,
    renewed_ms bigint NOT NULL
);
CREATE OR REPLACE VIEW kvstore_objects AS
    SELECT convert_from(key, 'UTF8') AS key, encode(value, 'escape') AS value, create_revision, mod_revision, lease
    FROM kvstore_keys;
INSERT INTO kvstore_meta (id, schema_version, head, compacted) VALUES (1, 1, 0, 0)
    ON CONFLICT (id) DO NOTHING;
"#;

/// Creates the schema and its tables if missing, and checks that they are this version.
pub(crate) async fn ensure(client: &mut Client, schema: &str) -> Result<()> {
    let failed = |err| store_error(err, Sent::Nothing);
    let tx = client.transaction().await.map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(failed)?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
        .map_err(failed)?;
    let exists = tx
        .query_one("SELECT to_regclass('kvstore_meta') IS NOT NULL", &[])
        .await
        .map_err(failed)?;
    if exists.get::<_, bool>(0) {
        let found: i32 = tx
            .query_one("SELECT schema_version FROM kvstore_meta WHERE id = 1", &[])
            .await
            .map_err(failed)?
            .get(0);
        if found != SCHEMA_VERSION {
            return Err(Error::InvalidConfig {
                message: format!(
                    "schema {schema} holds kvstore tables of version {found}; this build reads version {SCHEMA_VERSION}"
                ),
            });
        }
    } else {
        tx.batch_execute(CREATE).await.map_err(failed)?;
    }
    tx.commit().await.map_err(failed)
}
