//! kvstore on PostgreSQL against raw `tokio-postgres` doing the same durable work, side by side
//! in one run on one server (the test kit's, or `KVSTORE_POSTGRES_URL`): the same JSON bytes,
//! the statements a hand-written store would issue (`common/sql.rs`) on a pool of 8
//! connections (`deadpool-postgres`), one transaction per write, the server's default
//! durability (`synchronous_commit = on`). Needs `--features postgres-tests`; without it this
//! bench does nothing.
//!
//! ```sh
//! cargo bench --bench postgres --features postgres-tests
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(feature = "postgres-tests")]
mod postgres {
    use criterion::Criterion;
    use deadpool_postgres::{Manager, Pool};
    use kvstore::{Json, Store};
    use kvstore_testkit::postgres::TestPostgres;
    use tokio::runtime::Runtime;

    use super::common::sql::{setup, side_by_side, Raw, ALL};

    /// The hand-written store on tokio-postgres.
    struct RawPostgres {
        pool: Pool,
    }

    impl RawPostgres {
        async fn query(
            &self,
            statement: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Vec<tokio_postgres::Row> {
            let client = self.pool.get().await.expect("connection");
            let prepared = client.prepare_cached(statement).await.expect("prepare");
            client.query(&prepared, params).await.expect("query")
        }
    }

    impl Raw for RawPostgres {
        async fn fill(&self, objects: Vec<(String, Vec<u8>)>) {
            let (keys, values): (Vec<String>, Vec<Vec<u8>>) = objects.into_iter().unzip();
            self.query(
                "INSERT INTO objects (key, value, version) SELECT k, v, 1 \
                 FROM unnest($1::text[], $2::bytea[]) AS t(k, v)",
                &[&keys, &values],
            )
            .await;
        }

        async fn get(&self, key: String) -> Vec<u8> {
            let rows = self
                .query("SELECT value FROM objects WHERE key = $1", &[&key])
                .await;
            rows[0].get(0)
        }

        async fn get_versioned(&self, key: String) -> (Vec<u8>, i64) {
            let rows = self
                .query("SELECT value, version FROM objects WHERE key = $1", &[&key])
                .await;
            (rows[0].get(0), rows[0].get(1))
        }

        async fn create(&self, key: String, value: Vec<u8>) {
            self.query(
                "INSERT INTO objects (key, value, version) VALUES ($1, $2, 1)",
                &[&key, &value],
            )
            .await;
        }

        async fn compare_and_swap(&self, key: String, value: Vec<u8>, version: i64) -> bool {
            let rows = self
                .query(
                    "UPDATE objects SET value = $2, version = version + 1 \
                     WHERE key = $1 AND version = $3 RETURNING version",
                    &[&key, &value, &version],
                )
                .await;
            !rows.is_empty()
        }

        async fn list(&self, start: String, end: String) -> Vec<Vec<u8>> {
            let rows = self
                .query(
                    "SELECT value FROM objects WHERE key >= $1 AND key < $2 ORDER BY key",
                    &[&start, &end],
                )
                .await;
            rows.iter().map(|row| row.get(0)).collect()
        }
    }

    pub fn benches(c: &mut Criterion) {
        let runtime = Runtime::new().expect("runtime");
        let Ok(postgres) = runtime.block_on(TestPostgres::shared()) else {
            return;
        };
        let s = runtime.block_on(async {
            let store = Store::new(postgres.backend().await, Json);
            let driver = postgres.driver();
            let manager = Manager::new(driver, tokio_postgres::NoTls);
            let pool = Pool::builder(manager).max_size(8).build().expect("pool");
            let client = pool.get().await.expect("connection");
            client
                .batch_execute(
                    "CREATE TABLE objects (key text COLLATE \"C\" PRIMARY KEY, \
                     value bytea NOT NULL, version bigint NOT NULL)",
                )
                .await
                .expect("table");
            drop(client);
            setup(store, RawPostgres { pool }).await
        });
        side_by_side(c, "postgres", &runtime, &s, ALL);
    }
}

#[cfg(feature = "postgres-tests")]
fn benches(c: &mut Criterion) {
    postgres::benches(c);
}
#[cfg(not(feature = "postgres-tests"))]
fn benches(_: &mut Criterion) {}

criterion_group!(postgres_benches, benches);
criterion_main!(postgres_benches);
