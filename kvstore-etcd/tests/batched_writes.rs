//! Concurrent writes sharing requests (`EtcdConfig::batch_writes`) against a real etcd: each
//! write succeeds or fails on its own compares, a batch etcd refuses as a whole still gives
//! every write its own answer, and watchers and caches see each change once when several
//! objects share a revision.
#![allow(clippy::print_stderr)] // says why a case is skipped outside CI

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Cache, CreateOptions, ListOptions, Store, WatchEvent, WatchFrom};
use kvstore_etcd::EtcdBackend;
use kvstore_testkit::etcd::TestEtcd;

const TIMEOUT: Duration = Duration::from_secs(20);

async fn batched_store() -> Option<(Store<Json>, TestEtcd)> {
    let etcd = match TestEtcd::shared().await {
        Ok(etcd) => etcd,
        Err(skipped) => {
            eprintln!("{skipped}");
            return None;
        }
    };
    let backend = EtcdBackend::connect(etcd.config().batch_writes(true))
        .await
        .unwrap();
    Some((Store::new(backend, Json), etcd))
}

fn rv(widget: &Widget) -> u64 {
    widget
        .metadata
        .resource_version
        .as_ref()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_share_revisions_and_are_each_seen_once() {
    let Some((store, _etcd)) = batched_store().await else {
        return;
    };
    let mut watch = store
        .watch_prefix::<Widget>("/batched", WatchFrom::Now)
        .await
        .unwrap();
    let cache = Cache::<Widget>::new(&store, "/batched").unwrap();
    cache.wait_until_synced().await;

    let creates = (0..64).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let name = format!("w{i:02}");
            store
                .create(&format!("/batched/{name}"), &widget(&name, "red"))
                .await
                .unwrap()
        })
    });
    let created: Vec<Widget> = futures::future::try_join_all(creates).await.unwrap();
    let revisions: BTreeSet<u64> = created.iter().map(rv).collect();
    assert!(
        revisions.len() < created.len(),
        "64 concurrent creates shared no request ({} revisions)",
        revisions.len()
    );

    // The watch sees each create once, in revision order.
    let mut seen = BTreeSet::new();
    let mut last = 0;
    while seen.len() < created.len() {
        let event = tokio::time::timeout(TIMEOUT, watch.next())
            .await
            .expect("every create is watched")
            .unwrap()
            .unwrap();
        let WatchEvent::Added(object) = event else {
            panic!("expected a create, got {event:?}");
        };
        assert!(rv(&object) >= last);
        last = rv(&object);
        assert!(seen.insert(object.metadata.name.clone()), "seen twice");
    }
    // The cache holds exactly what the store holds.
    let newest = kvstore_core::ResourceVersion::new(*revisions.iter().max().unwrap()).unwrap();
    tokio::time::timeout(TIMEOUT, cache.wait_for(newest))
        .await
        .unwrap()
        .unwrap();
    let stored = store
        .list::<Widget>("/batched", &ListOptions::default())
        .await
        .unwrap()
        .items;
    let cached: Vec<Widget> = cache.list().iter().map(|w| Widget::clone(w)).collect();
    assert_eq!(cached, stored);
    assert_eq!(stored.len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_write_succeeds_or_fails_on_its_own_compares() {
    let Some((store, _etcd)) = batched_store().await else {
        return;
    };
    let read = store
        .create("/contended/one", &widget("one", "red"))
        .await
        .unwrap();
    // Sixteen updates at the same read version, with unrelated creates between them: exactly
    // one update wins, the others conflict; every create succeeds.
    let updates = (0..16).map(|i| {
        let (store, mut object) = (store.clone(), read.clone());
        tokio::spawn(async move {
            object.count = i;
            store.update("/contended/one", &object).await
        })
    });
    let creates = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create(&format!("/contended/c{i:02}"), &widget("c", "blue"))
                .await
        })
    });
    let same_name = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create("/contended/same", &widget("same", "red"))
                .await
        })
    });
    let (updates, creates, same_name) = tokio::join!(
        futures::future::join_all(updates),
        futures::future::join_all(creates),
        futures::future::join_all(same_name),
    );
    let updates: Vec<_> = updates.into_iter().map(Result::unwrap).collect();
    assert_eq!(updates.iter().filter(|u| u.is_ok()).count(), 1);
    assert!(updates
        .iter()
        .filter_map(|u| u.as_ref().err())
        .all(|e| e.is_conflict()));
    assert!(creates.into_iter().all(|c| c.unwrap().is_ok()));
    let same_name: Vec<_> = same_name.into_iter().map(Result::unwrap).collect();
    assert_eq!(same_name.iter().filter(|c| c.is_ok()).count(), 1);
    assert!(same_name
        .iter()
        .filter_map(|c| c.as_ref().err())
        .all(|e| e.is_already_exists()));
    let winner = updates.into_iter().find_map(Result::ok).unwrap();
    let stored: Widget = store.get("/contended/one").await.unwrap();
    assert_eq!(stored, winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_as_a_whole_still_answers_each_write() {
    let Some((store, _etcd)) = batched_store().await else {
        return;
    };
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    store.lease_revoke(lease.id).await.unwrap();
    // Writes on a revoked lease, mixed with good writes, many rounds so that they share
    // requests: the good ones land, the others report the lost lease.
    for round in 0..10 {
        let writes = (0..12).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("/refused/r{round}-{i:02}");
                let options = match i % 3 {
                    0 => CreateOptions::lease(lease.id),
                    _ => CreateOptions::default(),
                };
                (
                    i,
                    store.create_with(&key, &widget("w", "red"), &options).await,
                )
            })
        });
        for written in futures::future::join_all(writes).await {
            let (i, written) = written.unwrap();
            match i % 3 {
                0 => assert!(
                    written.as_ref().unwrap_err().is_lease_not_found(),
                    "{written:?}"
                ),
                _ => assert!(written.is_ok(), "{written:?}"),
            }
        }
    }
    let stored = store
        .list::<Widget>("/refused", &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 80);
}
