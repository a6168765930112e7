//! A user whose role covers only its own prefix connects, checks health and works under its
//! prefix without configuring a namespace; outside it, etcd's refusal is a clear,
//! non-retryable error.
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

use kvstore_codec::Json;
use kvstore_core::conformance::widget;
use kvstore_core::Store;
use kvstore_etcd::etcd_client::{Client, Permission};
use kvstore_etcd::{EtcdBackend, EtcdConfig};
use kvstore_testkit::etcd::TestEtcd;

/// Adds a user `app` whose role may read and write `/app/` only, then turns auth on.
async fn prefix_user(endpoints: &[String]) {
    let client = Client::connect(endpoints, None).await.unwrap();
    let mut auth = client.auth_client();
    auth.role_add("app").await.unwrap();
    auth.role_grant_permission("app", Permission::read_write("/app/").with_prefix())
        .await
        .unwrap();
    auth.user_add("app", "app-password", None).await.unwrap();
    auth.user_grant_role("app", "app").await.unwrap();
    auth.user_add("root", "root-password", None).await.unwrap();
    auth.user_grant_role("root", "root").await.unwrap();
    auth.auth_enable().await.unwrap();
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_scoped_user_connects_and_is_refused_outside_its_prefix() {
    let etcd = match TestEtcd::start().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    if std::env::var_os("KVSTORE_ETCD_ENDPOINTS").is_some() {
        return eprintln!("skipping: turns auth on, which an existing cluster must not get");
    }
    let endpoints = etcd.config().endpoints().to_vec();
    prefix_user(&endpoints).await;

    let config = EtcdConfig::new(endpoints).user("app", "app-password");
    let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
    store.health().await.unwrap();
    let written = store.create("/app/a", &widget("a", "red")).await.unwrap();
    assert_eq!(
        store
            .get::<kvstore_core::conformance::Widget>("/app/a")
            .await
            .unwrap(),
        written
    );

    let err = store
        .create("/other/a", &widget("a", "red"))
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    assert!(!err.is_retryable(), "{err}");
}
