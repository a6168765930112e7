//! Authentication and ACLs on a real ZooKeeper: a store opened with a user protects every znode
//! it creates (that user, the configured readers, nobody else), a client without the
//! credentials is refused with a typed error, and the password is never shown.

use std::time::Duration;

use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Error, Store};
use kvstore_testkit::until_answered;
use kvstore_testkit::zookeeper::TestZooKeeper;
use kvstore_zookeeper::zookeeper_client as zk;
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

const PASSWORD: &str = "app-secret-pw";

async fn server() -> Option<TestZooKeeper> {
    kvstore_testkit::or_skip(TestZooKeeper::shared().await)
}

fn protected(zk: &TestZooKeeper) -> ZooKeeperConfig {
    zk.config()
        .user("app", PASSWORD)
        .reader("ops", "ops-pw")
        .request_timeout(Duration::from_secs(5))
}

/// A raw ZooKeeper client, authenticated as `user` when given.
async fn raw(zk: &TestZooKeeper, user: Option<&str>) -> zk::Client {
    let mut connector = zk::Client::connector();
    if let Some(user) = user {
        connector = connector.with_auth("digest", user.as_bytes());
    }
    connector.connect(&zk.endpoints().join(",")).await.unwrap()
}

/// Every znode under `path`, depth first.
async fn znodes(client: &zk::Client, path: &str) -> Vec<String> {
    let mut found = vec![path.to_owned()];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at].clone();
        let children = client.list_children(&parent).await.unwrap();
        found.extend(
            children
                .into_iter()
                .map(|child| format!("{parent}/{child}")),
        );
        at += 1;
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_znode_belongs_to_the_user_and_its_readers() {
    let Some(zk) = server().await else { return };
    let backend = until_answered(|| ZooKeeperBackend::connect(protected(&zk))).await;
    let store = Store::new(backend, Json);
    let widgets = store.collection::<Widget>("/widgets").unwrap();
    widgets.create(&widget("a", "red")).await.unwrap();
    let lease = store
        .backend()
        .lease_grant(Duration::from_secs(30))
        .await
        .unwrap();
    store
        .create_with(
            "/widgets/leased",
            &widget("leased", "blue"),
            &kvstore_core::CreateOptions::lease(lease.id),
        )
        .await
        .unwrap();
    assert_eq!(widgets.get("a").await.unwrap().color, "red");

    let app = raw(&zk, Some(&format!("app:{PASSWORD}"))).await;
    let all = znodes(&app, zk.root()).await;
    assert!(all.len() > 8, "{all:?}");
    for path in &all {
        let (acls, _) = app.get_acl(path).await.unwrap();
        let ids: Vec<_> = acls
            .iter()
            .map(|acl| {
                (
                    acl.scheme().to_owned(),
                    acl.id().to_owned(),
                    acl.permission(),
                )
            })
            .collect();
        assert_eq!(ids.len(), 2, "{path}: {ids:?}");
        assert_eq!(
            (ids[0].0.as_str(), ids[0].2),
            ("digest", zk::Permission::ALL),
            "{path}"
        );
        assert!(ids[0].1.starts_with("app:"), "{path}: {ids:?}");
        assert_eq!(
            (ids[1].0.as_str(), ids[1].2),
            ("digest", zk::Permission::READ),
            "{path}"
        );
        assert!(ids[1].1.starts_with("ops:"), "{path}: {ids:?}");
    }

    // A reader reads, and cannot write.
    let ops = raw(&zk, Some("ops:ops-pw")).await;
    let head = format!("{}/head", zk.root());
    ops.get_data(&head).await.unwrap();
    assert_eq!(
        ops.set_data(&head, b"1", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    // Anyone else can do neither.
    let anyone = raw(&zk, None).await;
    assert_eq!(anyone.get_data(&head).await.unwrap_err(), zk::Error::NoAuth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_credentials_is_refused_typed() {
    let Some(zk) = server().await else { return };
    let backend = until_answered(|| ZooKeeperBackend::connect(protected(&zk))).await;
    Store::new(backend, Json)
        .create("/widgets/a", &widget("a", "red"))
        .await
        .unwrap();

    for config in [
        zk.config(),
        zk.config().user("app", "a wrong password"),
        zk.config().user("intruder", PASSWORD),
    ] {
        let shown = format!("{config:?}");
        assert!(
            !shown.contains(PASSWORD) && !shown.contains("wrong"),
            "{shown}"
        );
        let err = match ZooKeeperBackend::connect(config).await {
            Ok(backend) => Store::new(backend, Json)
                .get::<Widget>("/widgets/a")
                .await
                .unwrap_err(),
            Err(err) => err,
        };
        assert!(err.is_permission_denied(), "{err}");
        assert!(!err.is_retryable());
        assert!(!err.to_string().contains(PASSWORD), "{err}");
        assert!(matches!(err, Error::PermissionDenied { .. }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_url() {
    let Some(zk) = server().await else { return };
    let url = format!(
        "zk://app:{PASSWORD}@{}{}",
        zk.endpoints().join(","),
        zk.root()
    );
    let config = kvstore_core::StoreConfig::from_url(&url).unwrap();
    let zk_config = ZooKeeperConfig::from_store_config(&config).unwrap();
    assert!(!format!("{zk_config:?}").contains(PASSWORD));
    let backend = until_answered(|| ZooKeeperBackend::connect(zk_config.clone())).await;
    let store = Store::new(backend, Json);
    store
        .create("/widgets/a", &widget("a", "red"))
        .await
        .unwrap();
    let anyone = raw(&zk, None).await;
    let head = format!("{}/head", zk.root());
    assert_eq!(anyone.get_data(&head).await.unwrap_err(), zk::Error::NoAuth);
}
