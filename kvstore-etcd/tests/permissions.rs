//! etcd users and roles: a user whose role covers only its own prefix connects, checks health
//! and works under its prefix without configuring a namespace; outside it, reads, writes, lists
//! and watches are refused with a clear, non-retryable error. A wrong password or an unknown
//! user is `Unauthenticated` within the connect timeout, and a long-running client keeps
//! working after etcd's authentication token expires.
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

use std::time::{Duration, Instant};

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{ListOptions, Store, WatchEvent, WatchFrom};
use kvstore_etcd::{EtcdBackend, EtcdConfig};
use kvstore_testkit::etcd::{auth, local_etcd, EtcdCluster, TestEtcd};
use kvstore_testkit::Skipped;

/// A server of the test's own with a user `app` whose role may read and write `/app/` only.
async fn prefix_user() -> Result<TestEtcd, Skipped> {
    auth::server_with_auth("app", "app-password", "/app/").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_scoped_user_connects_and_is_refused_outside_its_prefix() {
    let etcd = match prefix_user().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let endpoints = etcd.config().endpoints().to_vec();

    let config = EtcdConfig::new(endpoints).user("app", "app-password");
    let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
    store.health().await.unwrap();
    let written = store.create("/app/a", &widget("a", "red")).await.unwrap();
    assert_eq!(store.get::<Widget>("/app/a").await.unwrap(), written);

    let refused = [
        store
            .create("/other/a", &widget("a", "red"))
            .await
            .map(drop),
        store.get::<Widget>("/other/a").await.map(drop),
        store
            .list::<Widget>("/other", &ListOptions::default())
            .await
            .map(drop),
        store
            .watch_prefix::<Widget>("/other", WatchFrom::Now)
            .await
            .map(drop),
    ];
    for (what, refused) in ["write", "read", "list", "watch"].iter().zip(refused) {
        let err = refused.expect_err(what);
        assert!(err.is_permission_denied(), "{what}: {err}");
        assert!(!err.is_retryable(), "{what}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unauthenticated_within_the_connect_timeout() {
    let etcd = match prefix_user().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let endpoints = etcd.config().endpoints().to_vec();
    let connect_timeout = Duration::from_secs(3);
    for (user, password) in [("app", "not-the-password"), ("nobody", "app-password")] {
        let config = EtcdConfig::new(endpoints.clone())
            .user(user, password)
            .connect_timeout(connect_timeout);
        let started = Instant::now();
        let err = EtcdBackend::connect(config).await.unwrap_err();
        assert!(
            started.elapsed() < connect_timeout,
            "{user}: took {:?}",
            started.elapsed()
        );
        assert!(err.is_unauthenticated(), "{user}: {err}");
        assert!(!err.is_retryable(), "{user}: {err}");
        assert!(!err.to_string().contains(password), "{err}");
        assert!(!format!("{err:?}").contains(password), "{err:?}");
    }
    // No credentials at all: etcd's "user name is empty" is an authentication failure too.
    let anonymous = EtcdConfig::new(endpoints).connect_timeout(connect_timeout);
    let err = match EtcdBackend::connect(anonymous).await {
        Err(err) => err,
        Ok(backend) => Store::new(backend, Json)
            .get::<Widget>("/app/a")
            .await
            .unwrap_err(),
    };
    assert!(err.is_unauthenticated(), "no credentials: {err}");
    assert!(!err.is_retryable(), "{err}");
}

/// etcd started with a one-second token lifetime: the client's token expires between its
/// requests (no signal tells when, so the test waits past it) and every request still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_client_outlives_its_auth_token() {
    if let Err(skipped) = local_etcd() {
        return eprintln!("{skipped}");
    }
    let cluster = EtcdCluster::start_with(1, &["--auth-token-ttl", "1"]).await;
    auth::enable_auth(&cluster.endpoints(), "app", "app-password", "/app/").await;
    let config = EtcdConfig::new(cluster.endpoints()).user("app", "app-password");
    let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
    let mut watch = store
        .watch_prefix::<Widget>("/app", WatchFrom::Now)
        .await
        .unwrap();
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let key = format!("/app/w{round}");
        let written = store.create(&key, &widget("w", "red")).await.unwrap();
        assert_eq!(store.get::<Widget>(&key).await.unwrap(), written);
        let listed = store
            .list::<Widget>("/app", &ListOptions::default())
            .await
            .unwrap();
        assert_eq!(listed.items.len(), round + 1);
        let seen = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch goes on")
            .unwrap()
            .unwrap();
        assert!(matches!(seen, WatchEvent::Added(w) if w == written));
    }
    // A watch opened after the token expired works too.
    let mut late = store
        .watch_prefix::<Widget>("/app", WatchFrom::Now)
        .await
        .unwrap();
    let last = store
        .create("/app/last", &widget("w", "red"))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), late.next())
        .await
        .expect("the late watch sees the write")
        .unwrap()
        .unwrap();
    assert!(matches!(seen, WatchEvent::Added(w) if w == last));
}
