//! The whole conformance suite on SQLite: every case in a database file of its own, in a
//! temporary directory.

use kvstore_codec::Json;
use kvstore_core::conformance::Fixture;
use kvstore_core::Store;
use kvstore_sqlite::{SqliteBackend, SqliteConfig};

async fn fixture() -> Fixture<Json> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backend = SqliteBackend::open(SqliteConfig::new(dir.path().join("store.db")))
        .await
        .expect("a new SQLite store opens");
    Fixture::with_guard(Store::new(backend, Json), dir)
}

kvstore_core::conformance_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |_isolation| fixture()
);
