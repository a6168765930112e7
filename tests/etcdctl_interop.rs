//! What kvstore writes is readable with `etcdctl`, and what `etcdctl put` writes in the right
//! JSON shape is read back as a typed object and seen by a kvstore watch.
#![cfg(feature = "etcd-tests")]

mod common;

use std::process::Command;

use futures::StreamExt;
use kvstore::{EtcdBackend, Json, Object, ObjectMeta, Store, WatchEvent, WatchFrom};
use kvstore_testkit::etcd::EtcdCluster;
use kvstore_testkit::under_ci;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "User", api_version = "example.com/v1")]
struct User {
    metadata: ObjectMeta,
    email: String,
}

fn etcdctl(endpoint: &str, args: &[&str]) -> Option<String> {
    let output = match Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoint)
        .args(args)
        .output()
    {
        Ok(output) => output,
        Err(err) => {
            assert!(
                !under_ci(),
                "CI=true and no etcdctl ({err}): apt-get install etcd-client"
            );
            return None;
        }
    };
    assert!(
        output.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Lossy: an encrypted value is binary.
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_through_etcdctl() {
    if !common::etcd_available() {
        return;
    }
    let cluster = EtcdCluster::start(1).await;
    let endpoint = cluster.endpoint(0);
    let store = Store::new(EtcdBackend::connect(cluster.config()).await.unwrap(), Json);
    let alice = User {
        metadata: ObjectMeta::named("alice"),
        email: "alice@example.com".into(),
    };
    store.create("/users/alice", &alice).await.unwrap();

    let Some(shown) = etcdctl(&endpoint, &["get", "--print-value-only", "/users/alice"]) else {
        return;
    };
    let json: serde_json::Value = serde_json::from_str(shown.trim()).expect("etcdctl shows JSON");
    assert_eq!(json["kind"], "User");
    assert_eq!(json["apiVersion"], "example.com/v1");
    assert_eq!(json["metadata"]["name"], "alice");
    assert_eq!(json["email"], "alice@example.com");
    assert!(
        json["metadata"].get("resourceVersion").is_none(),
        "versions are not stored"
    );

    let mut events = store
        .watch_prefix::<User>("/users", WatchFrom::Now)
        .await
        .unwrap();
    let bob = r#"{"apiVersion":"example.com/v1","kind":"User","metadata":{"name":"bob"},"email":"bob@example.com"}"#;
    etcdctl(&endpoint, &["put", "/users/bob", bob]);
    let read: User = store.get("/users/bob").await.unwrap();
    assert_eq!(read.email, "bob@example.com");
    assert!(read.metadata.resource_version.is_some());
    match events.next().await.unwrap().unwrap() {
        WatchEvent::Added(user) => assert_eq!(user, read),
        other => panic!("unexpected {other:?}"),
    }
}

/// With encryption at rest, `etcdctl get` shows ciphertext: the header naming the key, and
/// none of the object's fields.
#[cfg(feature = "encryption")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_shows_ciphertext_of_encrypted_objects() {
    use kvstore::encryption::{Encrypted, EncryptionKey, KeyRing};

    if !common::etcd_available() {
        return;
    }
    let cluster = EtcdCluster::start(1).await;
    let endpoint = cluster.endpoint(0);
    let ring = KeyRing::new(EncryptionKey::new("k2026", &[7; 32]).unwrap());
    let backend = EtcdBackend::connect(cluster.config()).await.unwrap();
    let store = Store::new(backend, Encrypted::new(Json, ring));
    let alice = User {
        metadata: ObjectMeta::named("alice"),
        email: "alice@example.com".into(),
    };
    let written = store.create("/users/alice", &alice).await.unwrap();
    assert_eq!(store.get::<User>("/users/alice").await.unwrap(), written);

    let Some(shown) = etcdctl(&endpoint, &["get", "--print-value-only", "/users/alice"]) else {
        return;
    };
    assert!(shown.starts_with("kvse"), "{shown:?}");
    assert!(shown.contains("k2026"), "the key's name is in the header");
    for plain in ["alice@example.com", "User", "example.com/v1"] {
        assert!(!shown.contains(plain), "{plain} shows in {shown:?}");
    }
}
