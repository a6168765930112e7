//! Fault tests on a real ZooKeeper: the server killed (`SIGKILL`) and restarted under writes,
//! a server that does not answer, and a client cut off long enough for its ZooKeeper session to
//! expire while it holds a lock.
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::backend::{Backend, RangeRequest};
use kvstore_core::conformance::Widget;
use kvstore_core::{Lock, ObjectMeta, Store, WatchEvent, WatchFrom};
use kvstore_testkit::proxy::Proxy;
use kvstore_testkit::until_answered;
use kvstore_testkit::zookeeper::ZooKeeperServer;
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

async fn server() -> Option<ZooKeeperServer> {
    match ZooKeeperServer::start().await {
        Ok(server) => Some(server),
        Err(skipped) => {
            eprintln!("{skipped}");
            None
        }
    }
}

fn config(endpoint: String) -> ZooKeeperConfig {
    ZooKeeperConfig::new([endpoint])
        .root("/faults")
        .request_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
}

fn counter() -> Widget {
    Widget {
        metadata: ObjectMeta::named("c"),
        color: "red".into(),
        count: 0,
    }
}

/// One increment, retried while the store is unavailable.
async fn increment(store: &Store<Json>, key: &str) {
    until_answered(|| store.guaranteed_update(key, |w: &mut Widget| w.count += 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_every_write_exactly_once_across_a_zookeeper_restart() {
    let Some(mut server) = server().await else {
        return;
    };
    const WRITES: u64 = 60;
    let backend = until_answered(|| ZooKeeperBackend::connect(config(server.endpoint()))).await;
    let store = Store::new(backend, Json);
    let key = "/faults/restart/c";
    store.create(key, &counter()).await.unwrap();
    let mut events = store.watch::<Widget>(key, WatchFrom::Now).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..WRITES {
                increment(&store, key).await;
            }
        })
    };
    // Kill -9 the server while the writer writes, and bring it back on its data.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart().await;
    writer.await.unwrap();

    let last: Widget = store.get(key).await.unwrap();
    assert!(last.count >= WRITES);
    for expected in 1..=last.count {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("the watch resumed")
            .expect("the watch is open")
            .expect("no watch error");
        match event {
            WatchEvent::Modified(w) => assert_eq!(w.count, expected, "in order, exactly once"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), events.next())
            .await
            .is_err(),
        "no duplicate after the last write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_zookeeper_is_unavailable_within_the_request_timeout() {
    let Some(mut server) = server().await else {
        return;
    };
    let timeout = Duration::from_millis(800);
    let backend = until_answered(|| {
        ZooKeeperBackend::connect(config(server.endpoint()).request_timeout(timeout))
    })
    .await;
    let store = Store::new(backend.clone(), Json);
    store.create("/faults/stopped/w", &counter()).await.unwrap();
    server.kill();
    let started = tokio::time::Instant::now();
    let read = backend.range(RangeRequest::key("/faults/stopped/w")).await;
    assert!(read.unwrap_err().is_unavailable());
    let write = store.create("/faults/stopped/x", &counter()).await;
    assert!(write.unwrap_err().is_unavailable());
    let watch = store
        .watch::<Widget>("/faults/stopped/w", WatchFrom::Now)
        .await;
    assert!(watch.err().is_some_and(|e| e.is_unavailable()));
    // Three calls, each bounded by the request timeout (plus scheduling).
    assert!(
        started.elapsed() < timeout * 3 + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// A server; client `a` reaching it through a proxy with a ZooKeeper session of 1 s (the
/// server's minimum at its 500 ms tick, so it expires while the proxy is cut); client `b`
/// reaching it directly.
async fn behind_a_proxy() -> Option<(ZooKeeperServer, Proxy, Store<Json>, Store<Json>)> {
    let server = server().await?;
    let proxy = Proxy::start(server.endpoint()).await;
    // zookeeper-client gives a new session its timeout to start: retried on a loaded machine.
    let through_proxy = config(proxy.endpoint().to_owned()).session_timeout(Duration::from_secs(1));
    let a = until_answered(|| ZooKeeperBackend::connect(through_proxy.clone())).await;
    let b = until_answered(|| ZooKeeperBackend::connect(config(server.endpoint()))).await;
    Some((server, proxy, Store::new(a, Json), Store::new(b, Json)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_holder_cut_off_past_its_session_is_told_before_another_holder_acts() {
    let Some((_server, proxy, a, b)) = behind_a_proxy().await else {
        return;
    };
    let ttl = Duration::from_secs(3);
    let a_lock = Lock::new(&a, "/faults/locks/l", ttl).unwrap();
    let held = a_lock.acquire().await.unwrap();
    let b_lock = Lock::new(&b, "/faults/locks/l", ttl).unwrap();
    let (told, mut told_rx) = tokio::sync::watch::channel(None);
    let started = tokio::time::Instant::now();
    let waiter = tokio::spawn(async move {
        let loss = held.lost().await;
        told.send_replace(Some((started.elapsed(), loss.to_string())));
        held
    });
    let b_acquires = tokio::spawn(async move {
        let guard = b_lock.acquire().await.unwrap();
        (started.elapsed(), guard)
    });
    proxy.cut();
    let (b_at, b_guard) = tokio::time::timeout(ttl * 5, b_acquires)
        .await
        .expect("another client takes the lock once the lease expired")
        .unwrap();
    let told_at = told_rx
        .wait_for(Option::is_some)
        .await
        .unwrap()
        .clone()
        .map(|(at, _)| at)
        .unwrap();
    assert!(
        told_at < b_at,
        "the holder was told at {told_at:?}, after the other took the lock at {b_at:?}"
    );
    assert!(b_guard.fencing_token() > 0);
    // Back online, the cut-off client works again, on a new ZooKeeper session.
    proxy.heal();
    let _ = waiter.await.unwrap();
    let mut recovered = false;
    for _ in 0..100 {
        if a.create("/faults/locks/after", &counter()).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the client recovers after its session expired");
}

/// The next election event, waiting at most `within`.
async fn next_event(
    election: &mut kvstore_core::Election,
    within: Duration,
) -> kvstore_core::ElectionEvent {
    loop {
        match tokio::time::timeout(within, election.next()).await {
            Ok(Some(Ok(event))) => return event,
            Ok(Some(Err(_))) => continue, // an error the campaign goes on after
            Ok(None) => panic!("the election ended"),
            Err(_) => panic!("no election event within {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_past_its_session_is_told_before_another_leads() {
    use kvstore_core::ElectionEvent;
    let Some((_server, proxy, a, b)) = behind_a_proxy().await else {
        return;
    };
    let ttl = Duration::from_secs(3);
    let mut leader = a.contest("/faults/election", "a", ttl).await.unwrap();
    assert!(matches!(
        next_event(&mut leader, ttl).await,
        ElectionEvent::Elected { .. }
    ));
    let mut follower = b.contest("/faults/election", "b", ttl).await.unwrap();
    let started = tokio::time::Instant::now();
    let told = tokio::spawn(async move {
        loop {
            if let ElectionEvent::Lost { .. } = next_event(&mut leader, ttl * 5).await {
                return started.elapsed();
            }
        }
    });
    proxy.cut();
    let elected = loop {
        if let ElectionEvent::Elected { .. } = next_event(&mut follower, ttl * 5).await {
            break started.elapsed();
        }
    };
    let told = told.await.unwrap();
    assert!(
        told < elected,
        "the leader was told at {told:?}, after the other was elected at {elected:?}"
    );
    proxy.heal();
}
