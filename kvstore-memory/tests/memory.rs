//! Behaviour specific to the in-memory backend: bounded history, fan-out, tokio-time leases.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kvstore_core::backend::{
    Backend, EventType, PutLease, RangeRequest, Txn, TxnOp, WatchItem, WatchRequest,
};
use kvstore_memory::MemoryBackend;

async fn put(backend: &MemoryBackend, key: &str, value: &str, lease: PutLease) -> u64 {
    let txn = Txn {
        compare: vec![],
        success: vec![TxnOp::Put {
            key: key.into(),
            value: Bytes::from(value.to_owned()),
            lease,
        }],
        failure: vec![],
        ..Txn::default()
    };
    backend.txn(txn).await.unwrap().revision
}

fn prefix(key: &str) -> WatchRequest {
    WatchRequest {
        key: format!("{key}/"),
        range_end: Some(format!("{key}0")),
        start_revision: 0,
    }
}

#[tokio::test]
async fn a_watcher_behind_the_retained_history_gets_gone_and_nothing_else_is_lost() {
    let backend = MemoryBackend::with_history(10);
    let mut events = backend.watch(prefix("/k")).await.unwrap();
    for i in 0..50 {
        put(&backend, "/k/x", &i.to_string(), PutLease::Detach).await;
    }
    match events.next().await {
        Some(Err(err)) => assert!(err.is_gone(), "{err}"),
        other => panic!("expected Gone, got {other:?}"),
    }
    assert!(
        events.next().await.is_none(),
        "the stream ends after its error"
    );
    // Resuming from a retained revision works and delivers the rest in order.
    let now = backend.current_revision().await.unwrap();
    let mut resumed = backend
        .watch(WatchRequest {
            start_revision: now - 5,
            ..prefix("/k")
        })
        .await
        .unwrap();
    for revision in now - 5..=now {
        let event = resumed.next().await.unwrap().unwrap().into_event().unwrap();
        assert_eq!(event.kv.mod_revision, revision);
    }
    let too_old = backend
        .watch(WatchRequest {
            start_revision: 1,
            ..prefix("/k")
        })
        .await;
    assert!(too_old.err().unwrap().is_gone());
}

#[tokio::test]
async fn many_watchers_each_receive_every_event() {
    let backend = MemoryBackend::new();
    let mut watchers = Vec::new();
    for _ in 0..100 {
        watchers.push(backend.watch(prefix("/fan")).await.unwrap());
    }
    for i in 0..20 {
        put(&backend, &format!("/fan/{i}"), "v", PutLease::Detach).await;
    }
    for watcher in &mut watchers {
        for i in 0..20 {
            let event = watcher.next().await.unwrap().unwrap().into_event().unwrap();
            assert_eq!(event.kv.key, format!("/fan/{i}"));
        }
    }
}

#[tokio::test]
async fn clones_share_one_store() {
    let backend = MemoryBackend::new();
    let clone = backend.clone();
    put(&clone, "/shared/a", "1", PutLease::Detach).await;
    let read = backend.range(RangeRequest::key("/shared/a")).await.unwrap();
    assert_eq!(read.kvs.len(), 1);
    assert_eq!(backend.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn leases_expire_exactly_on_tokio_time() {
    let backend = MemoryBackend::new();
    let lease = backend
        .lease_grant(Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(
        lease.ttl,
        Duration::from_secs(2),
        "rounded up to whole seconds"
    );
    put(&backend, "/ttl/a", "v", PutLease::Attach(lease.id)).await;
    let mut events = backend.watch(prefix("/ttl")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1990)).await;
    assert_eq!(backend.len(), 1, "alive just before its deadline");
    let started = tokio::time::Instant::now();
    let event = events.next().await.unwrap().unwrap().into_event().unwrap();
    assert_eq!(event.kind, EventType::Deleted);
    assert!(started.elapsed() <= Duration::from_millis(10));
    assert_eq!(event.prev_kv.unwrap().key, "/ttl/a");
    assert!(backend.is_empty());
    let err = backend.lease_renew(lease.id).await.unwrap_err();
    assert!(err.is_lease_not_found());
}

#[tokio::test(start_paused = true)]
async fn keep_alive_past_the_deadline_reports_the_lease_lost() {
    let backend = MemoryBackend::new();
    let lease = backend.lease_grant(Duration::from_secs(1)).await.unwrap();
    put(&backend, "/late/a", "v", PutLease::Attach(lease.id)).await;
    // Advance the clock without letting the reaper run first.
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(backend
        .lease_renew(lease.id)
        .await
        .unwrap_err()
        .is_lease_not_found());
    assert!(
        backend.is_empty(),
        "its keys are gone by the time the loss is reported"
    );
}

#[tokio::test]
async fn progress_answers_come_after_the_events_they_cover() {
    let backend = MemoryBackend::new();
    let mut watching = backend.watch(prefix("/p")).await.unwrap();
    let put =
        |key: &str| Txn::when([]).then(TxnOp::put(key, Bytes::from_static(b"v"), PutLease::Detach));
    backend.txn(put("/p/a")).await.unwrap();
    let elsewhere = backend.txn(put("/q/b")).await.unwrap().revision;
    backend.request_progress().await.unwrap();
    let first = watching.next().await.unwrap().unwrap();
    assert_eq!(first.into_event().unwrap().kv.key, "/p/a");
    let second = watching.next().await.unwrap().unwrap();
    assert_eq!(second, WatchItem::Progress(elsewhere));
}
