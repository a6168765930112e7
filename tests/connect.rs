//! Choosing the store at run time: URLs, configurations, registered schemes, and errors that
//! say what is wrong without showing a password.

use std::sync::Arc;

use futures::FutureExt;
use kvstore::backend::Backend;
use kvstore::{MemoryBackend, Object, ObjectMeta, StoreConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Note", api_version = "test.kvstore/v1")]
struct Note {
    metadata: ObjectMeta,
    text: String,
}

fn note(name: &str) -> Note {
    Note {
        metadata: ObjectMeta::named(name),
        text: "hello".to_owned(),
    }
}

#[tokio::test]
async fn memory_urls_give_fresh_or_named_stores() {
    let first = kvstore::connect("memory://").await.unwrap();
    let second = kvstore::connect("memory://").await.unwrap();
    first.create("/notes/a", &note("a")).await.unwrap();
    assert!(
        !second.exists("/notes/a").await.unwrap(),
        "memory:// is fresh"
    );

    let writer = kvstore::connect("memory://connect-test-shared")
        .await
        .unwrap();
    let reader = kvstore::connect("memory://connect-test-shared")
        .await
        .unwrap();
    let written = writer.create("/notes/b", &note("b")).await.unwrap();
    assert_eq!(reader.get::<Note>("/notes/b").await.unwrap(), written);
}

/// `?namespace=` is one layer for every backend: the namespaced store sees only its own keys,
/// which live under the namespace in the store.
#[tokio::test]
async fn a_namespace_puts_every_key_under_it() {
    let app = kvstore::connect("memory://connect-test-ns?namespace=/app")
        .await
        .unwrap();
    let whole = kvstore::connect("memory://connect-test-ns").await.unwrap();
    whole
        .create("/notes/outside", &note("outside"))
        .await
        .unwrap();
    let written = app.create("/notes/a", &note("a")).await.unwrap();
    assert_eq!(whole.get::<Note>("/app/notes/a").await.unwrap(), written);
    let listed = app
        .list::<Note>("/notes", &kvstore::ListOptions::default())
        .await
        .unwrap();
    assert_eq!(listed.items, [written], "its own keys only");
    assert!(app
        .get::<Note>("/notes/outside")
        .await
        .unwrap_err()
        .is_not_found());
    let config = StoreConfig::from_url("memory://connect-test-ns?namespace=/app").unwrap();
    assert_eq!(config.namespace.as_deref(), Some("/app"));
}

#[tokio::test]
async fn a_configuration_file_and_a_url_are_two_ways_to_the_same_store() {
    let config: StoreConfig = serde_json::from_str(
        r#"{"backend": "memory", "endpoints": ["connect-test-config"], "codec": "postcard"}"#,
    )
    .unwrap();
    let store = kvstore::connect_config(&config).await.unwrap();
    let written = store.create("/notes/c", &note("c")).await.unwrap();
    let by_url = kvstore::connect_with(
        "memory://connect-test-config?codec=postcard",
        kvstore::Postcard,
    )
    .await
    .unwrap();
    assert_eq!(by_url.get::<Note>("/notes/c").await.unwrap(), written);
    // The JSON codec refuses what postcard wrote, naming the format.
    let json = kvstore::connect("memory://connect-test-config")
        .await
        .unwrap();
    assert!(json.get::<Note>("/notes/c").await.unwrap_err().is_codec());
    // A config naming one codec and a caller giving another disagree.
    let err = kvstore::connect_config_with(&config, kvstore::Json)
        .await
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
}

#[tokio::test]
async fn bad_urls_say_what_is_wrong() {
    let cases = [
        ("nosuch://x", "unknown store scheme \"nosuch\" (known: "),
        ("memory://a,b", "list of names"),
        ("memory://?namespace=app", "namespace"),
        ("memory://?colour=red", "no option \"colour\""),
        ("memory://x?codec=yaml", "unknown codec \"yaml\""),
        ("no scheme", "expected scheme://"),
        // Hosts are checked whether or not the backend is compiled in.
        (
            "etcd://127.0.0.1:notaport",
            "endpoint \"127.0.0.1:notaport\"",
        ),
        ("etcd://h1:2379,h2:0", "endpoint \"h2:0\": the port"),
        ("zk://zk-1:70000/root", "endpoint \"zk-1:70000\""),
        ("etcd://::1", "in brackets"),
    ];
    for (url, expected) in cases {
        let err = match url.contains("codec") {
            true => kvstore::connect_config(&StoreConfig::from_url(url).unwrap())
                .await
                .unwrap_err(),
            false => kvstore::connect(url).await.unwrap_err(),
        };
        assert!(err.is_invalid_config(), "{url}: {err}");
        assert!(!err.is_retryable(), "{url}: {err}");
        assert!(err.to_string().contains(expected), "{url}: {err}");
    }
    #[cfg(not(feature = "etcd"))]
    {
        let err = kvstore::connect("etcd://127.0.0.1:2379").await.unwrap_err();
        assert!(err.to_string().contains("`etcd` feature"), "{err}");
    }
    #[cfg(not(feature = "zookeeper"))]
    {
        let err = kvstore::connect("zk://127.0.0.1:2181/a").await.unwrap_err();
        assert!(err.to_string().contains("`zookeeper` feature"), "{err}");
    }
    #[cfg(not(feature = "postgres"))]
    {
        let err = kvstore::connect("postgresql://u:p@127.0.0.1/db")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`postgres` feature"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_urls_open_a_file_that_outlives_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let url = format!("sqlite://{}?synchronous=full", path.display());
    let written = {
        let store = kvstore::connect(&url).await.unwrap();
        store.create("/notes/s", &note("s")).await.unwrap()
    };
    assert!(path.is_file());
    let store = kvstore::connect(&url).await.unwrap();
    assert_eq!(store.get::<Note>("/notes/s").await.unwrap(), written);
    let shown = StoreConfig::from_url(&url).unwrap().to_string();
    assert_eq!(shown, url);
    let err = kvstore::connect(&format!("sqlite://{}?colour=red", path.display()))
        .await
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    use kvstore_testkit::postgres::{TestPostgres, PASSWORD};

    use super::{note, Note};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_urls_connect_in_their_schema_and_hide_the_password() {
        let Ok(postgres) = TestPostgres::shared().await else {
            return;
        };
        let config = postgres.config();
        let url = format!(
            "postgresql://{}:{PASSWORD}@{}:{}/{}?schema={}",
            config.user, config.host, config.port, config.database, config.schema
        );
        let store = kvstore::connect(&url).await.unwrap();
        let written = store.create("/notes/p", &note("p")).await.unwrap();
        let again = kvstore::connect(&url).await.unwrap();
        assert_eq!(again.get::<Note>("/notes/p").await.unwrap(), written);

        let wrong = url.replace(PASSWORD, "not-it");
        let err = kvstore::connect(&wrong).await.unwrap_err();
        assert!(err.is_unauthenticated(), "{err}");
        for shown in [
            err.to_string(),
            format!("{err:?}"),
            format!("{:?}", kvstore::StoreConfig::from_url(&wrong).unwrap()),
        ] {
            assert!(
                !shown.contains("not-it") && !shown.contains(PASSWORD),
                "{shown}"
            );
        }
    }
}

#[tokio::test]
async fn third_party_backends_register_a_scheme() {
    kvstore::register("loopback", |config| {
        async move {
            // A backend reading its own options from the configuration.
            let name = config.options.get("store").cloned().unwrap_or_default();
            Ok(Arc::new(MemoryBackend::named(&name)) as Arc<dyn Backend>)
        }
        .boxed()
    });
    let store = kvstore::connect("loopback://?store=connect-test-loopback")
        .await
        .unwrap();
    let written = store.create("/notes/d", &note("d")).await.unwrap();
    let same = kvstore::connect("memory://connect-test-loopback")
        .await
        .unwrap();
    assert_eq!(same.get::<Note>("/notes/d").await.unwrap(), written);
    let err = kvstore::connect("unheard-of://x").await.unwrap_err();
    assert!(
        err.to_string().contains("loopback"),
        "known schemes listed: {err}"
    );
}

#[cfg(feature = "etcd-tests")]
mod etcd {
    use kvstore::backend::{Backend, RangeRequest};
    use kvstore_testkit::etcd::TestEtcd;

    use super::{note, Note};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn etcd_urls_connect_with_namespace_and_timeouts() {
        let Ok(etcd) = TestEtcd::start().await else {
            return;
        };
        let endpoint = etcd.config().endpoints()[0].replace("http://", "");
        let url = format!("etcd://{endpoint}?namespace=/connect-app&request_timeout=2s");
        let store = kvstore::connect(&url).await.unwrap();
        let written = store.create("/notes/e", &note("e")).await.unwrap();
        assert_eq!(store.get::<Note>("/notes/e").await.unwrap(), written);
        // The namespace is real: the raw key lives under it.
        let raw = etcd.backend().await;
        let read = raw
            .range(RangeRequest::key("/connect-app/notes/e"))
            .await
            .unwrap();
        assert_eq!(read.kvs.len(), 1);
        drop(raw);

        let err = kvstore::connect(&format!("etcd://{endpoint}?colour=red"))
            .await
            .unwrap_err();
        assert!(err.is_invalid_config(), "{err}");
    }

    #[tokio::test]
    async fn credentials_never_show_in_errors() {
        // Nothing listens on port 1: connecting fails, and says so without the password.
        let url = "etcd://app:hunter2@127.0.0.1:1?connect_timeout=200ms";
        let err = kvstore::connect(url).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let config = kvstore::StoreConfig::from_url(url).unwrap();
        let etcd = kvstore::EtcdConfig::from_store_config(&config).unwrap();
        assert!(!format!("{etcd:?}").contains("hunter2"));
    }
}

#[cfg(feature = "zookeeper-tests")]
mod zookeeper {
    use kvstore::backend::{Backend, RangeRequest};
    use kvstore::{ZooKeeperBackend, ZooKeeperConfig};
    use kvstore_testkit::zookeeper::TestZooKeeper;

    use super::{note, Note};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zk_urls_connect_under_their_root() {
        let Ok(zk) = TestZooKeeper::shared().await else {
            return;
        };
        let url = format!(
            "zk://{}{}?request_timeout=2s",
            zk.endpoints().join(","),
            zk.root()
        );
        let store = kvstore::connect(&url).await.unwrap();
        let written = store.create("/notes/z", &note("z")).await.unwrap();
        assert_eq!(store.get::<Note>("/notes/z").await.unwrap(), written);
        // The root is real: a backend under it sees the key, one under another root does not.
        let same = zk.backend().await;
        let read = same.range(RangeRequest::key("/notes/z")).await.unwrap();
        assert_eq!(read.kvs.len(), 1);
        let other = ZooKeeperBackend::connect(
            ZooKeeperConfig::new(zk.endpoints()).root(format!("{}-other", zk.root())),
        )
        .await
        .unwrap();
        let read = other.range(RangeRequest::key("/notes/z")).await.unwrap();
        assert!(read.kvs.is_empty());

        let err = kvstore::connect(&format!("zk://{}/a?colour=red", zk.endpoints()[0]))
            .await
            .unwrap_err();
        assert!(err.is_invalid_config(), "{err}");

        // A namespace inside the root, as on every backend.
        let namespaced = kvstore::connect(&format!("{url}&namespace=/team"))
            .await
            .unwrap();
        let written = namespaced.create("/notes/n", &note("n")).await.unwrap();
        let read = same
            .range(RangeRequest::key("/team/notes/n"))
            .await
            .unwrap();
        assert_eq!(read.kvs.len(), 1);
        assert_eq!(namespaced.get::<Note>("/notes/n").await.unwrap(), written);
    }

    #[tokio::test]
    async fn an_unreachable_zookeeper_is_unavailable_within_the_connect_timeout() {
        // Nothing listens on port 1.
        let started = std::time::Instant::now();
        let err = kvstore::connect("zk://127.0.0.1:1/a?connect_timeout=300ms")
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
