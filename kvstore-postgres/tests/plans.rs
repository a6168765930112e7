//! Every statement that reads the tables goes through an index: no table scan at any size.
//! The tables are filled with 20,000 keys 20,000 log rows and 20,000 leases, analysed, and each statement's
//! plan (`EXPLAIN`) is checked: only `kvstore_meta`, which holds one row, may be scanned.
#![allow(clippy::print_stderr)] // says why it is skipped outside CI

use kvstore_postgres::statements;
use kvstore_testkit::postgres::TestPostgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_reads_through_an_index() {
    let postgres = match TestPostgres::shared().await {
        Ok(postgres) => postgres,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    drop(postgres.backend().await); // creates the tables
    let client = postgres.sql().await;
    client
        .batch_execute(
            "INSERT INTO kvstore_keys SELECT convert_to('/k/' || i, 'UTF8'), '\\x00', i, i, i % 50 \
             FROM generate_series(1, 20000) i; \
             INSERT INTO kvstore_log (revision, position, key, value, create_revision, lease) \
             SELECT i, 0, convert_to('/k/' || i, 'UTF8'), '\\x00', i, 0 FROM generate_series(1, 20000) i; \
             INSERT INTO kvstore_leases (ttl_ms, renewed_ms) SELECT 1000, 0 FROM generate_series(1, 20000); \
             ANALYZE",
        )
        .await
        .unwrap();
    for (statement, arguments) in statements() {
        let prepared = format!("PREPARE probe AS {statement}");
        client.batch_execute(&prepared).await.unwrap();
        let explain = match arguments.is_empty() {
            true => "EXPLAIN EXECUTE probe".to_owned(),
            false => format!("EXPLAIN EXECUTE probe({})", arguments.join(", ")),
        };
        let plan: Vec<String> = client
            .query(&explain, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        client.batch_execute("DEALLOCATE probe").await.unwrap();
        for line in &plan {
            let scans_a_table = line.contains("Seq Scan") && !line.contains("kvstore_meta");
            assert!(
                !scans_a_table,
                "{statement}\n  scans a table:\n{}",
                plan.join("\n")
            );
        }
    }
}

/// The numbers for BENCHMARKS.md: the tables after 100,000 updates of 1,000 objects with the
/// default retention (run with `cargo test --release -p kvstore-postgres --test plans --
/// --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md, not a check"]
async fn table_size_after_100k_updates_of_1k_objects() {
    use bytes::Bytes;
    use futures::StreamExt;
    use kvstore_core::backend::{Backend, PutLease, Txn, TxnOp};

    let postgres = match TestPostgres::shared().await {
        Ok(postgres) => postgres,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let backend = postgres.backend().await;
    let value = Bytes::from("x".repeat(200));
    futures::stream::iter(0..100_000u32)
        .for_each_concurrent(64, |i| {
            let (backend, value) = (&backend, value.clone());
            async move {
                let key = format!("/objects/{:04}", i % 1000);
                let txn = Txn::when([]).then(TxnOp::put(key, value, PutLease::Detach));
                backend.txn(txn).await.expect("the put commits");
            }
        })
        .await;
    let client = postgres.sql().await;
    // The statistics are sent to the collector lazily.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for table in ["kvstore_keys", "kvstore_log", "kvstore_meta"] {
        let row = client
            .query_one(
                "SELECT pg_total_relation_size($1::text::regclass), coalesce((SELECT n_dead_tup \
                 FROM pg_stat_user_tables WHERE relid = $1::text::regclass), 0), \
                 coalesce((SELECT vacuum_count + autovacuum_count FROM pg_stat_user_tables \
                 WHERE relid = $1::text::regclass), 0)",
                &[&table],
            )
            .await
            .unwrap();
        let live: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        let (size, dead, vacuums): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        eprintln!(
            "{table}: {live} rows, {} KiB with indexes, {dead} dead rows, vacuumed {vacuums} times",
            size / 1024
        );
    }
}
