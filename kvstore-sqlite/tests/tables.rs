//! What the tables look like under load: every statement reads through an index (no table
//! scan at any size), and compaction keeps the log bounded while the same objects are updated
//! again and again.

use std::path::Path;

use bytes::Bytes;
use kvstore_core::backend::{Backend, PutLease, Txn, TxnOp};
use kvstore_sqlite::{SqliteBackend, SqliteConfig, STATEMENTS};
use rusqlite::Connection;

async fn open(path: &Path, retain: Option<u64>) -> SqliteBackend {
    SqliteBackend::open(SqliteConfig::new(path).retain(retain))
        .await
        .expect("the store opens")
}

async fn put(backend: &SqliteBackend, key: &str, value: &str) {
    let txn = Txn::when([]).then(TxnOp::put(
        key,
        Bytes::from(value.to_owned()),
        PutLease::Detach,
    ));
    backend.txn(txn).await.expect("the put commits");
}

fn count(conn: &Connection, table: &str) -> u64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_reads_through_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let backend = open(&path, None).await;
    for i in 0..200 {
        put(&backend, &format!("/k/{i:04}"), "v").await;
    }
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    for statement in STATEMENTS {
        let mut plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
            .unwrap();
        // Parameters left unbound are NULL: the plan is the one every call gets.
        let mut rows = plan.raw_query();
        let mut steps = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            steps.push(row.get::<_, String>(3).unwrap());
        }
        // Each table is read by a SEARCH through an index, never a SCAN; other steps are
        // structure (a scalar subquery).
        let reads: Vec<&String> = steps
            .iter()
            .filter(|step| step.starts_with("SEARCH") || step.starts_with("SCAN"))
            .collect();
        assert!(!reads.is_empty(), "{statement}: no table read in {steps:?}");
        for step in reads {
            let indexed = step.starts_with("SEARCH") && step.contains("USING");
            assert!(indexed, "{statement}\n  reads without an index: {step}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_log_bounded_under_steady_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let retain = 500;
    let backend = open(&path, Some(retain)).await;
    let objects = 50;
    let conn = Connection::open(&path).unwrap();
    let mut most = 0;
    for round in 0..60 {
        for i in 0..objects {
            put(
                &backend,
                &format!("/objects/{i}"),
                &format!("round {round}"),
            )
            .await;
        }
        most = most.max(count(&conn, "kvstore_log"));
    }
    // 3,000 updates, one row each; at most `retain` revisions and a tenth more are kept, plus
    // the writes that land while a compaction runs in its task (a few; far from another tenth).
    assert!(
        most <= retain + 2 * (retain / 10),
        "the log held {most} rows"
    );
    assert_eq!(count(&conn, "kvstore_keys"), objects);
    let compacted: u64 = conn
        .query_row("SELECT compacted FROM kvstore_meta", [], |r| r.get(0))
        .unwrap();
    assert!(
        compacted >= 3000 - retain - retain / 10,
        "compacted to {compacted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reads_the_live_objects_from_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let backend = open(&path, None).await;
    put(&backend, "/users/alice", r#"{"email":"alice@example.com"}"#).await;
    put(&backend, "/users/bob", "1").await;
    let txn = Txn::when([]).then(TxnOp::delete("/users/bob"));
    backend.txn(txn).await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let rows: Vec<(String, String, u64)> = conn
        .prepare("SELECT key, value, mod_revision FROM kvstore_objects ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![(
            "/users/alice".to_owned(),
            r#"{"email":"alice@example.com"}"#.to_owned(),
            1
        )]
    );
}

/// The numbers for BENCHMARKS.md: the file after 100,000 updates of 1,000 objects with the
/// default retention (run with `cargo test --release -p kvstore-sqlite --test tables --
/// --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md, not a check"]
#[allow(clippy::print_stderr)]
async fn table_size_after_100k_updates_of_1k_objects() {
    use futures::StreamExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let backend = SqliteBackend::open(SqliteConfig::new(&path)).await.unwrap();
    let value = "x".repeat(200);
    futures::stream::iter(0..100_000u32)
        .for_each_concurrent(64, |i| {
            let (backend, value) = (&backend, &value);
            async move { put(backend, &format!("/objects/{:04}", i % 1000), value).await }
        })
        .await;
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let pages: u64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let free: u64 = conn
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    let size: u64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    eprintln!(
        "after 100,000 updates of 1,000 objects: {} keys, {} log rows, file {} KiB ({} KiB free pages)",
        count(&conn, "kvstore_keys"),
        count(&conn, "kvstore_log"),
        pages * size / 1024,
        free * size / 1024
    );
    assert!(count(&conn, "kvstore_log") <= 11_001);
}
