//! The whole conformance suite on a real PostgreSQL (a server of this test binary, or the one
//! `KVSTORE_POSTGRES_URL` names), every case in a schema of its own — with the JSON codec, and
//! again through the encrypting codec.
#![allow(clippy::print_stderr)] // says why a case is skipped outside CI

use kvstore_codec::encrypted::{Encrypted, EncryptionKey, KeyRing};
use kvstore_codec::Json;
use kvstore_core::conformance::Fixture;
use kvstore_core::{Codec, Store};
use kvstore_testkit::postgres::TestPostgres;

async fn fixture<C: Codec>(codec: C) -> Option<Fixture<C>> {
    let postgres = match TestPostgres::shared().await {
        Ok(postgres) => postgres,
        Err(skipped) => {
            eprintln!("{skipped}");
            return None;
        }
    };
    let backend = postgres.backend().await;
    Some(Fixture::new(Store::new(backend, codec)))
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
