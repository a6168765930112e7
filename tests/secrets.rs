//! No secret leaks: configurations, URLs and errors never show a password, and the `tracing`
//! output of a run of operations against an etcd with authentication carries neither the
//! values written nor the password.
#![cfg(feature = "etcd-tests")]
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use kvstore::{
    EtcdBackend, EtcdConfig, Json, ListOptions, Object, ObjectMeta, Secret, Store, StoreConfig,
    WatchFrom,
};
use kvstore_testkit::etcd::auth;
use serde::{Deserialize, Serialize};

const PASSWORD: &str = "PASSWORD-MARKER-91c2";
const VALUE: &str = "VALUE-MARKER-7f3a";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Note", api_version = "secrets.kvstore/v1")]
struct Note {
    metadata: ObjectMeta,
    text: String,
}

fn note(name: &str, text: &str) -> Note {
    Note {
        metadata: ObjectMeta::named(name),
        text: text.to_owned(),
    }
}

fn assert_hidden(shown: &str) {
    assert!(!shown.contains(PASSWORD), "a password shows in: {shown}");
}

#[tokio::test]
async fn configurations_urls_and_errors_never_show_a_password() {
    let url = format!("etcd://app:{PASSWORD}@127.0.0.1:1?namespace=/a");
    let config = StoreConfig::from_url(&url).unwrap();
    let etcd = EtcdConfig::from_store_config(&config).unwrap();
    let direct = EtcdConfig::new(["http://127.0.0.1:1"]).user("app", PASSWORD);
    let secret = Secret::new(PASSWORD);
    for shown in [
        format!("{config}"),
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{etcd:?}"),
        format!("{etcd:#?}"),
        format!("{direct:?}"),
        format!("{secret:?}"),
    ] {
        assert_hidden(&shown);
    }
    // Malformed URLs and failed connections name the URL, without its password.
    for malformed in [
        format!("etcd://app:{PASSWORD}@h:2379/path"),
        format!("nosuchstore://app:{PASSWORD}@h:2379"),
        format!("app:{PASSWORD}@h:2379"),
        format!("etcd://app:{PASSWORD}@h:2379?request_timeout=soon"),
    ] {
        let err = kvstore::connect(&malformed).await.unwrap_err();
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
    }
    let unreachable = format!("etcd://app:{PASSWORD}@127.0.0.1:1?connect_timeout=300ms");
    let err = kvstore::connect(&unreachable).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_hidden(&err.to_string());
    assert_hidden(&format!("{err:?}"));
}

/// Everything the subscriber writes, from every crate, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        captured.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        let captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&captured).into_owned()
    }
}

/// A current-thread runtime runs every task on the test's thread, so the thread's subscriber
/// sees the events of the backend's background tasks too.
#[tokio::test]
async fn tracing_carries_no_values_and_no_password() {
    let etcd = match auth::server_with_auth("app", PASSWORD, "/app/").await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let endpoints = etcd.config().endpoints().to_vec();

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let config = EtcdConfig::new(endpoints).user("app", PASSWORD);
    let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
    let mut watch = store
        .watch_prefix::<Note>("/app", WatchFrom::Now)
        .await
        .unwrap();
    let created = store
        .create("/app/a", &note("a", &format!("{VALUE} one")))
        .await
        .unwrap();
    let mut changed = created.clone();
    changed.text = format!("{VALUE} two");
    store.update("/app/a", &changed).await.unwrap();
    store.get::<Note>("/app/a").await.unwrap();
    store
        .list::<Note>("/app", &ListOptions::default())
        .await
        .unwrap();
    store
        .txn()
        .create("/app/b", &note("b", &format!("{VALUE} three")))
        .commit()
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch sees the writes")
            .unwrap()
            .unwrap();
    }
    store
        .delete::<Note>("/app/a", &kvstore::Preconditions::default())
        .await
        .unwrap();
    store.close().await;
    drop(_default);

    let text = captured.text();
    // The capture works: the store's own spans are in it.
    assert!(text.contains("create"), "nothing captured:\n{text}");
    assert!(
        text.contains("kind=\"Note\""),
        "no store span captured:\n{text}"
    );
    assert!(!text.contains(VALUE), "a value shows in the tracing output");
    assert!(
        !text.contains(PASSWORD),
        "the password shows in the tracing output"
    );
}
