//! The whole conformance suite on SQLite, every case in a database file of its own in a
//! temporary directory — with the JSON codec, and again through the encrypting codec.

use kvstore_codec::encrypted::{Encrypted, EncryptionKey, KeyRing};
use kvstore_codec::Json;
use kvstore_core::conformance::Fixture;
use kvstore_core::{Codec, Store};
use kvstore_sqlite::{SqliteBackend, SqliteConfig};

async fn fixture<C: Codec>(codec: C) -> Fixture<C> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backend = SqliteBackend::open(SqliteConfig::new(dir.path().join("store.db")))
        .await
        .expect("a new SQLite store opens");
    Fixture::with_guard(Store::new(backend, codec), dir)
}

kvstore_core::conformance_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |_isolation| fixture(Json)
);

mod encrypted {
    use super::*;

    kvstore_core::conformance_suite!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        |_isolation| {
            let ring = KeyRing::new(EncryptionKey::new("suite", &[5; 32]).unwrap());
            fixture(Encrypted::new(Json, ring))
        }
    );
}
