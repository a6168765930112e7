//! A three-member ZooKeeper ensemble losing members under load: a follower, then the leader,
//! killed (`SIGKILL`) while a client writes and watches. The store keeps working through the
//! others, every write lands once, and the watch delivers every change once, in order.
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{ListOptions, Store, WatchEvent, WatchFrom, WatchOptions};
use kvstore_testkit::until_answered;
use kvstore_testkit::zookeeper::ZooKeeperEnsemble;
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

/// Creates `name`, through lost connections and elections: a retryable or ambiguous error is
/// retried (a create retried after an ambiguous one finds its own object). How many times it
/// had to try again.
async fn create(store: &Store<Json>, name: &str) -> usize {
    let key = format!("/items/{name}");
    let mut retries = 0;
    loop {
        match store.create(&key, &widget(name, "red")).await {
            Ok(_) => return retries,
            Err(err) if err.is_retryable() || err.is_ambiguous() => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("creating {key}: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_through_a_killed_follower_and_leader() {
    let mut ensemble = match ZooKeeperEnsemble::start().await {
        Ok(ensemble) => ensemble,
        Err(skipped) => {
            eprintln!("{skipped}");
            return;
        }
    };
    let config = ZooKeeperConfig::new(ensemble.endpoints())
        .root("/ensemble")
        .request_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(5));
    let store = Store::new(
        until_answered(|| ZooKeeperBackend::connect(config.clone())).await,
        Json,
    );
    let mut watch = store
        .watch_prefix_with::<Widget>("/items", &WatchOptions::starting(WatchFrom::Now))
        .await
        .unwrap();

    // The writer writes until told to stop; each fault lasts until 20 more writes landed.
    let (progress, written) = tokio::sync::watch::channel(0usize);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut retries, mut count) = (0, 0);
            while !*stopped.borrow() {
                retries += create(&store, &format!("w{count:04}")).await;
                count += 1;
                progress.send_replace(count);
            }
            (count, retries)
        })
    };
    let twenty_more = || {
        let target = *written.borrow() + 20;
        let mut written = written.clone();
        async move {
            let reached = written.wait_for(|done| *done >= target);
            tokio::time::timeout(Duration::from_secs(60), reached)
                .await
                .expect("writes go on")
                .unwrap();
        }
    };
    twenty_more().await;
    let leader = ensemble.leader().expect("a leader");
    let follower = (leader + 1) % 3;
    ensemble.kill(follower);
    twenty_more().await;
    ensemble.restart(follower).await;
    twenty_more().await;
    ensemble.kill(leader);
    twenty_more().await;
    ensemble.restart(leader).await;
    twenty_more().await;
    stop.send_replace(true);
    let (writes, retries) = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the writer stops")
        .unwrap();
    // The leader's death closes every client connection of the ensemble: the writer felt it.
    assert!(retries > 0, "no write was disturbed");

    let everything = ListOptions::default();
    let listed = until_answered(|| store.list::<Widget>("/items", &everything)).await;
    let names: BTreeSet<String> = listed
        .items
        .iter()
        .map(|w| w.metadata.name.clone())
        .collect();
    assert_eq!(names.len(), writes, "every write landed once");

    let mut seen = BTreeSet::new();
    let mut last = 0;
    while seen.len() < writes {
        let event = tokio::time::timeout(Duration::from_secs(30), watch.next())
            .await
            .expect("the watch goes on")
            .expect("the watch does not end")
            .expect("no watch error");
        let WatchEvent::Added(object) = event else {
            panic!("unexpected {event:?}");
        };
        let revision = object.metadata.version().unwrap().revision();
        assert!(revision > last, "in order: {revision} after {last}");
        last = revision;
        assert!(
            seen.insert(object.metadata.name.clone()),
            "once: {}",
            object.metadata.name
        );
    }
    assert_eq!(seen, names);
}
