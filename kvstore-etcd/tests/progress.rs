//! Watch progress requests against a real etcd.
//!
//! The release installed here may be one that etcd issue 15220 affects, on which
//! `ProgressRequests::Auto` declines progress requests (and the conformance run exercises the
//! fallbacks). These cases turn them on explicitly, so the path that fixed releases take by
//! default runs against a real server: the consistent-read and bookmark cases of the
//! conformance suite, with sharing on and off.
#![allow(clippy::print_stderr)] // says why a case is skipped outside CI

use kvstore_codec::Json;
use kvstore_core::conformance;
use std::time::Duration;

use kvstore_core::conformance::Widget;
use kvstore_core::{Backend, Cache, Store};
use kvstore_etcd::{EtcdBackend, ProgressRequests};
use kvstore_testkit::etcd::TestEtcd;

/// A store on a shared server with progress requests on; `None` when skipped.
async fn store(share_watches: bool) -> Option<(Store<Json>, TestEtcd)> {
    let etcd = match TestEtcd::shared().await {
        Ok(etcd) => etcd,
        Err(skipped) => {
            eprintln!("{skipped}");
            return None;
        }
    };
    let config = etcd
        .config()
        .progress_requests(ProgressRequests::Enabled)
        .share_watches(share_watches);
    let backend = EtcdBackend::connect(config).await.unwrap();
    Some((Store::new(backend, Json), etcd))
}

/// Whether the server's release orders requested progress with events (etcd issue 15220).
async fn fixed_release(backend: &EtcdBackend) -> bool {
    let mut maintenance = backend.client().maintenance_client();
    let release = maintenance.status().await.unwrap().version().to_owned();
    let mut parts = release.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    match (major, minor) {
        (3, 4) => patch >= 25,
        (3, 5) => patch >= 8,
        _ => (major, minor) > (3, 5),
    }
}

/// The consistent-read rounds on etcd with progress requests on. On a fixed release the
/// conformance case runs as it is. On an affected release a requested progress answer can
/// overtake the events of a watch the server has not yet synced (one opened at a revision
/// already passed: the case fails in its first round there, which is why `Auto` declines
/// such releases), so the cache's watch is first made synced by construction: on a server of
/// the test's own nothing writes between the cache's list and its watch, and a first bookmark
/// confirms the watch is open before any write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_reads_with_progress_requests() {
    for share in [true, false] {
        let etcd = match TestEtcd::start().await {
            Ok(etcd) => etcd,
            Err(skipped) => {
                eprintln!("{skipped}");
                return;
            }
        };
        let config = etcd
            .config()
            .progress_requests(ProgressRequests::Enabled)
            .share_watches(share);
        let backend = EtcdBackend::connect(config).await.unwrap();
        let fixed = fixed_release(&backend).await;
        let store = Store::new(backend, Json);
        if fixed {
            conformance::consistent_cache_reads_see_every_acknowledged_write(store.clone()).await;
        } else {
            let prefix = "/consistent";
            let cache = Cache::<Widget>::new(&store, prefix).unwrap();
            cache.wait_until_synced().await;
            let now = store.current_resource_version().await.unwrap();
            tokio::time::timeout(Duration::from_secs(10), cache.wait_for(now))
                .await
                .expect("a first bookmark")
                .unwrap();
            conformance::consistent_reads_see_writes(&store, &cache, prefix).await;
        }
        conformance::consistent_read_of_a_quiet_prefix_answers_promptly(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_with_progress_requests() {
    for share in [true, false] {
        let Some((store, _etcd)) = store(share).await else {
            return;
        };
        conformance::watch_bookmarks_follow_the_changes_they_cover(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_watcher_keeps_its_resume_point_with_progress_requests() {
    let etcd = match TestEtcd::start().await {
        Ok(etcd) => etcd,
        Err(skipped) => {
            eprintln!("{skipped}");
            return;
        }
    };
    let config = etcd.config().progress_requests(ProgressRequests::Enabled);
    let store = Store::new(EtcdBackend::connect(config).await.unwrap(), Json);
    conformance::quiet_watcher_resumes_past_compaction_without_relisting(store).await;
}

/// `Auto` reads the server's release: progress requests are accepted exactly on fixed
/// releases, and refused as unsupported (not as a failure) on affected ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_follows_the_server_release() {
    let Some((_, etcd)) = store(true).await else {
        return;
    };
    let backend = EtcdBackend::connect(etcd.config()).await.unwrap();
    let fixed = fixed_release(&backend).await;
    match backend.request_progress().await {
        Ok(()) => assert!(
            fixed,
            "an affected etcd release was trusted with progress requests"
        ),
        Err(err) => {
            assert!(err.is_unsupported(), "{err}");
            assert!(!fixed, "a fixed etcd release was refused progress requests");
            assert!(!err.is_retryable());
        }
    }
    let disabled =
        EtcdBackend::connect(etcd.config().progress_requests(ProgressRequests::Disabled))
            .await
            .unwrap();
    assert!(disabled
        .request_progress()
        .await
        .unwrap_err()
        .is_unsupported());
}
