//! The whole conformance suite against a real ZooKeeper (a standalone server started from
//! Debian's `zookeeper` package, or the ensemble `KVSTORE_ZK_ENDPOINTS` names), every case in a
//! root znode of its own.

use kvstore_codec::Json;
use kvstore_core::conformance::Fixture;
use kvstore_core::{Codec, Store};
use kvstore_testkit::zookeeper::TestZooKeeper;
use kvstore_testkit::{until_answered, Skipped};
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

/// A store under a root of the case's own (roots share nothing, compaction included, so every
/// isolation can share the server), configured by `configure`; `None` (saying why) when
/// ZooKeeper is not here.
async fn fixture_on<C: Codec>(
    zk: Result<TestZooKeeper, Skipped>,
    configure: impl Fn(ZooKeeperConfig) -> ZooKeeperConfig,
    codec: C,
) -> Option<Fixture<C>> {
    let zk = kvstore_testkit::or_skip(zk)?;
    let config = configure(zk.config());
    let backend = until_answered(|| ZooKeeperBackend::connect(config.clone())).await;
    Some(Fixture::with_guard(Store::new(backend, codec), zk))
}

kvstore_core::conformance_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |_isolation| async { fixture_on(TestZooKeeper::shared().await, |c| c, Json).await }
);

/// The whole suite again on a protected store: every znode created with the ACLs of a user
/// (`ZooKeeperConfig::user`) and a reader, the session authenticated with ZooKeeper's digest
/// scheme.
mod authenticated {
    use super::*;

    kvstore_core::conformance_suite!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        |_isolation| async {
            let protect = |c: ZooKeeperConfig| c.user("app", "app-pw").reader("ops", "ops-pw");
            fixture_on(TestZooKeeper::shared().await, protect, Json).await
        }
    );
}

/// The whole suite again on a three-member ensemble, the connect string naming all three.
mod ensemble {
    use super::*;

    kvstore_core::conformance_suite!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        |_isolation| async { fixture_on(TestZooKeeper::on_ensemble().await, |c| c, Json).await }
    );
}
