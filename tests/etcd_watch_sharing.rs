//! Shared etcd watches, observed on the server: watches of one prefix from one client cost
//! etcd one watcher, which goes away with the last of them; a watcher that falls behind moves
//! onto a watch of its own and loses nothing. Each test runs its own etcd process, whose
//! `etcd_debugging_mvcc_watcher_total` metric counts the watchers it serves.
#![cfg(feature = "etcd-tests")]

use std::io::{Read, Write};
use std::time::Duration;

use futures::StreamExt;
mod common;

use common::{etcd_available, store_on};
use kvstore::{Json, Object, ObjectMeta, Store, WatchFrom, WatchStream};
use kvstore_testkit::etcd::EtcdCluster;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Counter", api_version = "sharing.kvstore/v1")]
struct Counter {
    metadata: ObjectMeta,
    value: u64,
}

const PREFIX: &str = "/sharing";
const KEY: &str = "/sharing/c";

/// The number of watchers the etcd at `endpoint` (`http://host:port`) serves.
fn server_watchers(endpoint: &str) -> u64 {
    let address = endpoint.trim_start_matches("http://");
    let mut connection = std::net::TcpStream::connect(address).unwrap();
    write!(
        connection,
        "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    connection.read_to_string(&mut response).unwrap();
    response
        .lines()
        .find_map(|line| line.strip_prefix("etcd_debugging_mvcc_watcher_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .expect("etcd reports its watcher count") as u64
}

/// Waits until the server serves `expected` watchers; panics after 10 s.
async fn await_server_watchers(endpoint: &str, expected: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = server_watchers(endpoint);
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "etcd serves {now} watchers, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `count` watches of the prefix from now, all started at once.
async fn watchers(store: &Store<Json>, count: usize) -> Vec<WatchStream<Counter>> {
    let starting = (0..count).map(|_| store.watch_prefix::<Counter>(PREFIX, WatchFrom::Now));
    futures::future::try_join_all(starting).await.unwrap()
}

async fn next_value(events: &mut WatchStream<Counter>) -> u64 {
    let item = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the watch goes on");
    item.unwrap().object().unwrap().value
}

/// Writes values `0..n` to `KEY`, creating it first when it is not there.
async fn write(store: &Store<Json>, n: u64) {
    let mut counter = Counter {
        metadata: ObjectMeta::named("c"),
        value: 0,
    };
    for value in 0..n {
        counter.value = value;
        match store.update_unconditionally(KEY, &counter).await {
            Err(err) if err.is_not_found() => store.create(KEY, &counter).await.map(drop),
            other => other.map(drop),
        }
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_of_one_prefix_cost_etcd_one_watcher_until_the_last_is_dropped() {
    if !etcd_available() {
        return;
    }
    let cluster = EtcdCluster::start(1).await;
    let endpoint = cluster.endpoint(0);
    let base = server_watchers(&endpoint);
    let store = store_on(cluster.config()).await;
    let mut shared = watchers(&store, 50).await;
    await_server_watchers(&endpoint, base + 1).await;
    write(&store, 10).await;
    for events in &mut shared {
        for expected in 0..10 {
            assert_eq!(next_value(events).await, expected);
        }
    }
    drop(shared);
    await_server_watchers(&endpoint, base).await;

    // The same watches unshared: one etcd watcher each, so the count above is the sharing.
    let unshared = store_on(cluster.config().share_watches(false)).await;
    let own = watchers(&unshared, 50).await;
    await_server_watchers(&endpoint, base + 50).await;
    drop(own);
    await_server_watchers(&endpoint, base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_moves_to_its_own_watch_and_loses_nothing() {
    if !etcd_available() {
        return;
    }
    const WRITES: u64 = 100;
    let cluster = EtcdCluster::start(1).await;
    let endpoint = cluster.endpoint(0);
    let base = server_watchers(&endpoint);
    let store = store_on(cluster.config().shared_watch_buffer(4)).await;
    let mut slow = watchers(&store, 1).await.remove(0);
    let mut fast = watchers(&store, 1).await.remove(0);
    await_server_watchers(&endpoint, base + 1).await;
    // The fast watcher reads every change as it is written; the slow one reads nothing.
    let writer = store.clone();
    let writing = tokio::spawn(async move { write(&writer, WRITES).await });
    for expected in 0..WRITES {
        assert_eq!(next_value(&mut fast).await, expected);
    }
    writing.await.unwrap();
    for expected in 0..WRITES {
        assert_eq!(next_value(&mut slow).await, expected);
    }
    // The slow watcher now has an etcd watch of its own; the fast one kept the shared one.
    await_server_watchers(&endpoint, base + 2).await;
    write(&store, 1).await;
    assert_eq!(next_value(&mut fast).await, 0);
    assert_eq!(next_value(&mut slow).await, 0);
}
