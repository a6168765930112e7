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
    let config = postgres.config();
    let url = format!(
        "host={} port={} user={} password={} dbname={} options='-c search_path={}'",
        config.host,
        config.port,
        config.user,
        config.password.as_ref().map_or("", |p| p.expose()),
        config.database,
        config.schema
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
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
