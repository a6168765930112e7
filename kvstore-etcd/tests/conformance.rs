//! The whole conformance suite against a real etcd (see `kvstore_testkit::etcd` for where it
//! comes from: local processes, a container with `KVSTORE_ETCD=docker`, or an existing cluster),
//! with the JSON codec, and again through the encrypting codec (`Encrypted<Json>`: encryption
//! at rest changes nothing of the semantics). Cases that may share a server run on one, each
//! under a namespace of its own; cases that compact history get a server of their own. With
//! `KVSTORE_ETCD_BATCH_WRITES=1` the backend shares requests among concurrent writes
//! (`EtcdConfig::batch_writes`); CI runs the suite both ways.
#![allow(clippy::print_stderr)] // says why a case is skipped outside CI

use kvstore_codec::encrypted::{Encrypted, EncryptionKey, KeyRing};
use kvstore_codec::Json;
use kvstore_core::conformance::{Fixture, Isolation};
use kvstore_core::{Codec, Store};
use kvstore_etcd::EtcdBackend;
use kvstore_testkit::etcd::TestEtcd;

/// A store of the case's isolation with `codec`; `None` (saying why) when etcd is not here.
async fn fixture<C: Codec>(isolation: Isolation, codec: C) -> Option<Fixture<C>> {
    let etcd = match isolation {
        Isolation::Shared => TestEtcd::shared().await,
        Isolation::Exclusive => TestEtcd::start().await,
    };
    let etcd = match etcd {
        Ok(etcd) => etcd,
        Err(skipped) => {
            eprintln!("{skipped}");
            return None;
        }
    };
    let batch = std::env::var("KVSTORE_ETCD_BATCH_WRITES").is_ok_and(|v| v == "1");
    let backend = EtcdBackend::connect(etcd.config().batch_writes(batch))
        .await
        .expect("connect to the test etcd");
    Some(Fixture::with_guard(Store::new(backend, codec), etcd))
}

kvstore_core::conformance_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |isolation| fixture(isolation, Json)
);

mod encrypted {
    use super::*;

    kvstore_core::conformance_suite!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        |isolation| {
            let ring = KeyRing::new(EncryptionKey::new("suite", &[5; 32]).unwrap());
            fixture(isolation, Encrypted::new(Json, ring))
        }
    );
}
