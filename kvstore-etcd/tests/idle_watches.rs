//! Watches that nobody reads never stall the client: with sharing on and off, with idle
//! watchers on one prefix and on fifty, the writer and a reader keep working, and the idle
//! watchers, polled at last, deliver every change in order.
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Store, WatchEvent, WatchFrom, WatchStream};
use kvstore_etcd::EtcdBackend;
use kvstore_testkit::etcd::TestEtcd;

const WRITES: u64 = 120;
/// Changes each watcher of the shared prefix reads halfway through.
const READ_BETWEEN: usize = 6;

async fn idle_watchers_never_stall_the_client(share: bool) {
    let etcd = match TestEtcd::start().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    // Small buffers, so the idle watchers overflow them: shared ones leave their shared watch
    // for watches of their own, and those pause and resume.
    let mut config = etcd
        .config()
        .share_watches(share)
        .watch_buffer(8)
        .request_timeout(Duration::from_secs(5));
    if share {
        config = config.shared_watch_buffer(4);
    }
    let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
    let mut same: Vec<WatchStream<Widget>> = Vec::new();
    let mut apart: Vec<WatchStream<Widget>> = Vec::new();
    for i in 0..50 {
        same.push(
            store
                .watch_prefix("/idle/shared", WatchFrom::Now)
                .await
                .unwrap(),
        );
        apart.push(
            store
                .watch_prefix(&format!("/idle/apart/{i}"), WatchFrom::Now)
                .await
                .unwrap(),
        );
    }
    // Writes with values of a few KiB, far past an HTTP/2 window of 64 KiB per idle stream.
    let big = "x".repeat(4096);
    let write = |n: u64| {
        let (store, object) = (store.clone(), widget("w", &big));
        async move {
            let (shared, apart) = (
                format!("/idle/shared/{n}"),
                format!("/idle/apart/{}/{n}", n % 50),
            );
            tokio::time::timeout(Duration::from_secs(10), async {
                store.create(&shared, &object).await.unwrap();
                store.create(&apart, &object).await.unwrap();
                store.get::<Widget>(&shared).await.unwrap();
            })
            .await
            .unwrap_or_else(|_| panic!("write or read {n} stalled (sharing {share})"));
        }
    };
    for n in 0..WRITES / 2 {
        write(n).await;
    }
    // The watchers on one prefix read a few changes, past what their shared watch kept for
    // them, then idle again: each now continues on an etcd watch of its own, which must not
    // stall the client either.
    for watcher in same.iter_mut() {
        expect_creates(watcher, READ_BETWEEN).await;
    }
    for n in WRITES / 2..WRITES {
        write(n).await;
    }
    // Polled at last, an idle watcher delivers every change, in order.
    for i in [0, 49] {
        expect_creates(&mut same[i], WRITES as usize - READ_BETWEEN).await;
    }
    for i in [0, 7, 49] {
        let total = (0..WRITES).filter(|n| n % 50 == i).count();
        expect_creates(&mut apart[i as usize], total).await;
    }
}

async fn expect_creates(watcher: &mut WatchStream<Widget>, count: usize) {
    let mut last_revision = 0;
    for _ in 0..count {
        let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
            .await
            .expect("the idle watcher delivers")
            .expect("the watch goes on")
            .unwrap();
        let WatchEvent::Added(object) = &event else {
            panic!("expected a create, got {event:?}");
        };
        let revision: u64 = object
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(revision > last_revision, "in order");
        last_revision = revision;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_shared_watchers_never_stall_the_client() {
    idle_watchers_never_stall_the_client(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_unshared_watchers_never_stall_the_client() {
    idle_watchers_never_stall_the_client(false).await;
}
