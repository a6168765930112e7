//! Fault tests on real etcd processes: restarts, compaction, leader loss, a stopped server.
#![cfg(feature = "etcd-tests")]

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
mod common;

use common::{etcd_available, store_on};
use kvstore::{
    Cache, CreateOptions, EtcdBackend, Json, ListOptions, Object, ObjectMeta, Session, Store,
    WatchEvent, WatchFrom,
};
use kvstore_testkit::etcd::EtcdCluster;
use kvstore_testkit::until_answered;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Counter", api_version = "faults.kvstore/v1")]
struct Counter {
    metadata: ObjectMeta,
    value: u64,
}

fn counter() -> Counter {
    Counter {
        metadata: ObjectMeta::named("c"),
        value: 0,
    }
}

/// One increment, retried while the store is unavailable; returns the value written.
async fn increment(store: &Store<Json>, key: &str) -> u64 {
    until_answered(|| store.guaranteed_update(key, |c: &mut Counter| c.value += 1))
        .await
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_every_write_exactly_once_across_an_etcd_restart() {
    if !etcd_available() {
        return;
    }
    const WRITES: u64 = 60;
    let mut cluster = EtcdCluster::start(1).await;
    let config = cluster.config().request_timeout(Duration::from_secs(2));
    let store = store_on(config).await;
    let key = "/faults/restart/c";
    store.create(key, &counter()).await.unwrap();
    let mut events = store.watch::<Counter>(key, WatchFrom::Now).await.unwrap();

    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..WRITES {
                increment(&store, key).await;
            }
        })
    };
    // Kill -9 the server mid-stream and bring it back on the same data dir.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.kill(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.restart(0).await;
    writer.await.unwrap();

    let last: Counter = store.get(key).await.unwrap();
    assert!(last.value >= WRITES);
    let mut expected = 1;
    while expected <= last.value {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("the watch resumed")
            .expect("the watch is open")
            .expect("no watch error");
        match event {
            WatchEvent::Modified(c) => assert_eq!(c.value, expected, "in order, exactly once"),
            other => panic!("unexpected {other:?}"),
        }
        expected += 1;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), events.next())
            .await
            .is_err(),
        "no duplicate after the last write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_behind_compaction_gets_gone_then_relists_and_resumes() {
    if !etcd_available() {
        return;
    }
    let cluster = EtcdCluster::start(1).await;
    let store = store_on(cluster.config()).await;
    let prefix = "/faults/compact";
    for i in 0..3 {
        store
            .create(&format!("{prefix}/{i}"), &counter())
            .await
            .unwrap();
    }
    let listed = store
        .list::<Counter>(prefix, &ListOptions::default())
        .await
        .unwrap();
    for i in 0..3 {
        increment(&store, &format!("{prefix}/{i}")).await;
    }
    let now = store.current_resource_version().await.unwrap();
    store.compact(now).await.unwrap();

    let behind = WatchFrom::Version(listed.metadata.resource_version);
    let err = match store.watch_prefix::<Counter>(prefix, behind).await {
        Err(err) => err,
        Ok(mut events) => events.next().await.unwrap().unwrap_err(),
    };
    assert!(err.is_gone(), "{err}");

    let relisted = store
        .list::<Counter>(prefix, &ListOptions::default())
        .await
        .unwrap();
    assert!(relisted.items.iter().all(|c| c.value == 1));
    let mut events = store
        .watch_prefix::<Counter>(
            prefix,
            WatchFrom::Version(relisted.metadata.resource_version),
        )
        .await
        .unwrap();
    increment(&store, &format!("{prefix}/0")).await;
    match events.next().await.unwrap().unwrap() {
        WatchEvent::Modified(c) => assert_eq!(c.value, 2),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_survive_losing_the_leader_of_a_three_member_cluster() {
    if !etcd_available() {
        return;
    }
    const TASKS: usize = 4;
    const INCREMENTS: usize = 100;
    let mut cluster = EtcdCluster::start(3).await;
    let config = cluster.config().request_timeout(Duration::from_secs(3));
    let store = store_on(config).await;
    let key = "/faults/leader/c";
    store.create(key, &counter()).await.unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for _ in 0..INCREMENTS {
                    written.push(increment(&store, key).await);
                }
                written
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leader = cluster.leader().await.expect("a leader");
    cluster.kill(leader);

    let mut successes = BTreeSet::new();
    for task in tasks {
        for value in task.await.unwrap() {
            assert!(
                successes.insert(value),
                "value {value} reported written twice"
            );
        }
    }
    let last: Counter = store.get(key).await.unwrap();
    assert_eq!(successes.len(), TASKS * INCREMENTS);
    // Every reported success is in the final value; an increment whose answer was lost in the
    // election may have landed too, but none counts twice.
    assert!(last.value >= (TASKS * INCREMENTS) as u64);
    assert!(successes.iter().all(|v| *v <= last.value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_etcd_is_unavailable_within_the_request_timeout() {
    if !etcd_available() {
        return;
    }
    let mut cluster = EtcdCluster::start(1).await;
    let timeout = Duration::from_secs(1);
    let config = cluster
        .config()
        .request_timeout(timeout)
        .connect_timeout(timeout);
    let store = store_on(config.clone()).await;
    store.create("/faults/stopped/a", &counter()).await.unwrap();
    store.health().await.unwrap();
    cluster.kill(0);

    let started = tokio::time::Instant::now();
    let err = store.health().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < timeout + Duration::from_millis(500));
    let started = tokio::time::Instant::now();
    let err = store.get::<Counter>("/faults/stopped/a").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = store
        .create("/faults/stopped/b", &counter())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed() < timeout * 2 + Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );

    let started = tokio::time::Instant::now();
    let err = EtcdBackend::connect(config).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed() < timeout + Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_keep_alive_survives_a_restart_and_reports_loss_before_expiry() {
    if !etcd_available() {
        return;
    }
    let mut cluster = EtcdCluster::start(1).await;
    let config = cluster.config().request_timeout(Duration::from_millis(500));
    let store = store_on(config).await;
    let ttl = Duration::from_secs(4);
    let lease = store.lease_grant(ttl).await.unwrap();
    store
        .create_with(
            "/faults/lease/a",
            &counter(),
            &CreateOptions::lease(lease.id),
        )
        .await
        .unwrap();
    let keeper = Session::keep_alive(&store, lease);

    // A restart shorter than the ttl: renewals resume, the key stays.
    cluster.kill(0);
    cluster.restart(0).await;
    tokio::time::sleep(ttl * 2).await;
    assert!(keeper.is_alive(), "{:?}", keeper.state());
    assert!(store.get::<Counter>("/faults/lease/a").await.is_ok());

    // The server stays away: the loss is reported within the ttl, before the server (which
    // counts from a later renewal) could have expired the lease.
    cluster.kill(0);
    let started = tokio::time::Instant::now();
    let reason = tokio::time::timeout(ttl * 2, keeper.lost())
        .await
        .expect("loss reported");
    let elapsed = started.elapsed();
    assert!(elapsed <= ttl, "loss reported after {elapsed:?}: {reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_on_a_server_that_stays_dead_end_unavailable() {
    if !etcd_available() {
        return;
    }
    let mut cluster = EtcdCluster::start(1).await;
    let config = cluster
        .config()
        .request_timeout(Duration::from_millis(500))
        .watch_reconnect_timeout(Duration::from_secs(2));
    let store = store_on(config).await;
    // Two watches of one prefix share one etcd watch; each gets the error.
    let mut watches = Vec::new();
    for _ in 0..2 {
        let events = store
            .watch_prefix::<Counter>("/faults/dead", WatchFrom::Now)
            .await
            .unwrap();
        watches.push(events);
    }
    cluster.kill(0);
    for events in &mut watches {
        let item = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the watch gave up instead of waiting forever");
        let err = item.expect("an error item").unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(
            events.next().await.is_none(),
            "the stream ends after its error"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_converges_across_an_etcd_restart_mid_stream() {
    if !etcd_available() {
        return;
    }
    let mut cluster = EtcdCluster::start(1).await;
    let config = cluster.config().request_timeout(Duration::from_secs(2));
    let store = store_on(config).await;
    let prefix = "/faults/cache";
    let cache = Cache::<Counter>::with_config(
        &store,
        prefix,
        kvstore::WatcherConfig {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), cache.wait_until_synced())
        .await
        .expect("synced");
    const ROUNDS: u64 = 30;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            // Ten counters, each incremented in turn, a third deleted every fourth round.
            for round in 0..ROUNDS {
                done.store(round, std::sync::atomic::Ordering::SeqCst);
                for i in 0..10 {
                    let key = format!("{prefix}/c{i}");
                    // Re-create what a previous round deleted.
                    loop {
                        match store.create(&key, &counter()).await {
                            // A create settles a lost answer itself; when it cannot, it is
                            // tried again (AlreadyExists then: the first try landed).
                            Err(err) if err.is_retryable() || err.is_ambiguous() => {
                                tokio::time::sleep(Duration::from_millis(50)).await
                            }
                            Ok(_) => break,
                            Err(err) if err.is_already_exists() => break,
                            Err(err) => panic!("{err}"),
                        }
                    }
                    increment(&store, &key).await;
                    if round % 4 == 3 && i % 3 == 0 {
                        loop {
                            match store.delete::<Counter>(&key, &Default::default()).await {
                                Ok(_) => break,
                                Err(err) if err.is_not_found() => break,
                                Err(err) if err.is_retryable() || err.is_ambiguous() => {
                                    tokio::time::sleep(Duration::from_millis(50)).await
                                }
                                Err(err) => panic!("{err}"),
                            }
                        }
                    }
                }
            }
        })
    };
    while done.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.kill(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.restart(0).await;
    let rounds_after_restart = ROUNDS - done.load(std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    assert!(rounds_after_restart > 1, "the restart came mid-stream");

    let listed = store
        .list::<Counter>(prefix, &ListOptions::default())
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        cache.wait_for(listed.metadata.resource_version),
    )
    .await
    .expect("the cache caught up")
    .unwrap();
    let cached: Vec<Counter> = cache.list().iter().map(|c| Counter::clone(c)).collect();
    assert_eq!(
        cached, listed.items,
        "object by object, resource versions included"
    );
}
