//! Histories of concurrent clients on a real PostgreSQL, checked for linearizability and the
//! watch guarantees, one fault per scenario: none, the server killed (`SIGKILL`) and
//! restarted, a proxy that delays, holds and cuts connections, calls dropped in flight, and a
//! lease expiring while its holder pauses.

use std::time::Duration;

use kvstore_codec::Json;
use kvstore_core::Store;
use kvstore_postgres::{PostgresBackend, PostgresConfig};
use kvstore_testkit::history::faults::misbehave;
use kvstore_testkit::history::{run, Workload};
use kvstore_testkit::postgres::{PostgresServer, TestPostgres, DATABASE, PASSWORD, USER};
use kvstore_testkit::proxy::Proxy;
use kvstore_testkit::{or_skip, until_answered};

fn workload() -> Workload {
    Workload::new(8, 100).scaled()
}

async fn store(config: PostgresConfig) -> Store<Json> {
    let config = config.request_timeout(Duration::from_secs(2));
    let backend = until_answered(|| PostgresBackend::connect(config.clone())).await;
    Store::new(backend, Json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_postgres_is_linearizable() {
    let Some(postgres) = or_skip(TestPostgres::shared().await) else {
        return;
    };
    let stores = [
        store(postgres.config()).await,
        store(postgres.config()).await,
    ];
    run("postgres-healthy", &stores, workload(), async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_postgres_loses_nothing_acknowledged() {
    let Some(mut server) = or_skip(PostgresServer::start().await) else {
        return;
    };
    let stores = [
        store(server.config("histories")).await,
        store(server.config("histories")).await,
    ];
    let faults = async {
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.kill();
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.restart().await;
        }
    };
    run("postgres-kill-restart", &stores, workload(), faults)
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_delays_holds_and_cuts_loses_nothing_acknowledged() {
    let Some(postgres) = or_skip(TestPostgres::shared().await) else {
        return;
    };
    let direct = postgres.config();
    let proxy = Proxy::start(format!("{}:{}", direct.host, direct.port)).await;
    let port = proxy
        .endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the proxy's port");
    let through = PostgresConfig::new("127.0.0.1", port, USER, DATABASE)
        .password(PASSWORD)
        .schema(direct.schema.clone());
    let stores = [store(through).await, store(direct).await];
    let workload = workload();
    let faults = misbehave(&proxy, workload.seed);
    run("postgres-proxy", &stores, workload, faults)
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_in_flight_break_nothing() {
    let Some(postgres) = or_skip(TestPostgres::shared().await) else {
        return;
    };
    let stores = [store(postgres.config()).await];
    let workload = workload().cancelling(6, Duration::from_millis(3));
    run("postgres-cancellation", &stores, workload, async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_during_a_pause_breaks_nothing() {
    let Some(postgres) = or_skip(TestPostgres::shared().await) else {
        return;
    };
    let stores = [
        store(postgres.config()).await,
        store(postgres.config()).await,
    ];
    let workload = workload().expiring_lease(Duration::from_secs(1));
    run("postgres-lease-expiry", &stores, workload, async {})
        .await
        .assert_passed();
}
