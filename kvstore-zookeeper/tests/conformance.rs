//! The whole conformance suite against a real ZooKeeper (a standalone server started from
//! Debian's `zookeeper` package, or the ensemble `KVSTORE_ZK_ENDPOINTS` names), every case in a
//! root znode of its own.
#![allow(clippy::print_stderr)] // says why a case is skipped outside CI

use kvstore_codec::Json;
use kvstore_core::conformance::{Fixture, Isolation};
use kvstore_core::{Codec, Store};
use kvstore_testkit::zookeeper::TestZooKeeper;

/// A store under a root of the case's own (roots share nothing, compaction included, so every
/// isolation can share the server); `None` (saying why) when ZooKeeper is not here.
async fn fixture<C: Codec>(_isolation: Isolation, codec: C) -> Option<Fixture<C>> {
    let zk = match TestZooKeeper::shared().await {
        Ok(zk) => zk,
        Err(skipped) => {
            eprintln!("{skipped}");
            return None;
        }
    };
    let backend = zk.backend().await;
    Some(Fixture::with_guard(Store::new(backend, codec), zk))
}

kvstore_core::conformance_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |isolation| fixture(isolation, Json)
);

/// The whole suite again on a protected store: every znode created with the ACLs of a user
/// (`ZooKeeperConfig::user`) and a reader, the session authenticated with ZooKeeper's digest
/// scheme.
mod authenticated {
    use super::*;
    use kvstore_testkit::until_answered;
    use kvstore_zookeeper::ZooKeeperBackend;

    async fn protected<C: Codec>(_isolation: Isolation, codec: C) -> Option<Fixture<C>> {
        let zk = match TestZooKeeper::shared().await {
            Ok(zk) => zk,
            Err(skipped) => {
                eprintln!("{skipped}");
                return None;
            }
        };
        let config = zk.config().user("app", "app-pw").reader("ops", "ops-pw");
        let backend = until_answered(|| ZooKeeperBackend::connect(config.clone())).await;
        Some(Fixture::with_guard(Store::new(backend, codec), zk))
    }

    kvstore_core::conformance_suite!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        |isolation| protected(isolation, Json)
    );
}

/// The whole suite again on a three-member ensemble, the connect string naming all three.
mod ensemble {
    use super::*;

    async fn on_ensemble<C: Codec>(_isolation: Isolation, codec: C) -> Option<Fixture<C>> {
        let zk = match TestZooKeeper::on_ensemble().await {
            Ok(zk) => zk,
            Err(skipped) => {
                eprintln!("{skipped}");
                return None;
            }
        };
        let backend = zk.backend().await;
        Some(Fixture::with_guard(Store::new(backend, codec), zk))
    }

    kvstore_core::conformance_suite!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        |isolation| on_ensemble(isolation, Json)
    );
}
