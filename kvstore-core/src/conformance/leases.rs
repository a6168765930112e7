//! Leases and TTL keys.

use std::time::Duration;

use super::{next_event, unique_prefix, widget, TestCodec, Widget};
use crate::coordination::{LeaseLoss, Session};
use crate::lease::{Lease, LeaseId};
use crate::store::{CreateOptions, Store, WatchEvent, WatchFrom};
use crate::Result;

/// Creates `object` at `key` on a fresh lease of `ttl`.
async fn create_with_ttl<C: TestCodec>(
    store: &Store<C>,
    key: &str,
    object: &Widget,
    ttl: Duration,
) -> Result<(Widget, Lease)> {
    let lease = store.lease_grant(ttl).await?;
    let created = store
        .create_with(key, object, &CreateOptions::lease(lease.id))
        .await?;
    Ok((created, lease))
}

/// Creates a widget per name under `prefix`, on `lease`.
async fn create_on<C: TestCodec>(store: &Store<C>, prefix: &str, names: &[&str], lease: LeaseId) {
    for name in names {
        store
            .create_with(
                &format!("{prefix}/{name}"),
                &widget(name, "red"),
                &CreateOptions::lease(lease),
            )
            .await
            .unwrap();
    }
}

/// The TTL the cases use: the smallest every backend grants as asked (etcd's minimum).
pub const TTL: Duration = Duration::from_secs(2);

fn is_deleted(event: &WatchEvent<Widget>) -> bool {
    matches!(event, WatchEvent::Deleted(_))
}

/// A key written with a TTL stays until its lease expires, then is deleted with an event.
pub async fn ttl_expiry_deletes_and_notifies<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/ttl", unique_prefix());
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    let (created, lease) = create_with_ttl(&store, &key, &widget("ttl", "red"), TTL)
        .await
        .unwrap();
    assert!(lease.ttl >= TTL);
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::Added(_)
    ));
    tokio::time::sleep(TTL / 4).await;
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), created);
    match next_event(&mut events).await {
        WatchEvent::Deleted(last) => assert_eq!(last.metadata.uid, created.metadata.uid),
        other => panic!("expected Deleted, got {other:?}"),
    }
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
    assert!(store
        .lease_renew(lease.id)
        .await
        .unwrap_err()
        .is_lease_not_found());
}

/// Keep-alive renews the lease: the key outlives its TTL while renewed.
pub async fn keep_alive_keeps_key<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/ttl", unique_prefix());
    let (_, lease) = create_with_ttl(&store, &key, &widget("ttl", "red"), TTL)
        .await
        .unwrap();
    for _ in 0..4 {
        tokio::time::sleep(TTL / 2).await;
        assert!(store.lease_renew(lease.id).await.unwrap() >= TTL);
    }
    assert!(
        store.get::<Widget>(&key).await.is_ok(),
        "renewed key outlived its ttl"
    );
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    assert!(is_deleted(&next_event(&mut events).await));
}

/// Revoking a lease deletes its keys at once.
pub async fn revoke_deletes_at_once<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    let mut events = store
        .watch_prefix::<Widget>(&prefix, WatchFrom::Now)
        .await
        .unwrap();
    create_on(&store, &prefix, &["a", "b"], lease.id).await;
    store.lease_revoke(lease.id).await.unwrap();
    assert!(store
        .get::<Widget>(&format!("{prefix}/a"))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(store
        .get::<Widget>(&format!("{prefix}/b"))
        .await
        .unwrap_err()
        .is_not_found());
    let mut deleted = 0;
    for _ in 0..4 {
        if is_deleted(&next_event(&mut events).await) {
            deleted += 1;
        }
    }
    assert_eq!(deleted, 2);
    assert!(store
        .lease_revoke(lease.id)
        .await
        .unwrap_err()
        .is_lease_not_found());
}

/// Updating a TTL object keeps it on its lease.
pub async fn update_keeps_the_lease<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/ttl", unique_prefix());
    let (created, _lease) = create_with_ttl(&store, &key, &widget("ttl", "red"), TTL)
        .await
        .unwrap();
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    let mut changed = created.clone();
    changed.color = "blue".into();
    store.update(&key, &changed).await.unwrap();
    store
        .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
        .await
        .unwrap();
    store.update_unconditionally(&key, &changed).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            next_event(&mut events).await,
            WatchEvent::Modified(_)
        ));
    }
    assert!(
        is_deleted(&next_event(&mut events).await),
        "the lease still expires the key"
    );
}

/// Writing with a revoked lease fails and writes nothing.
pub async fn dead_lease_is_rejected<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/ttl", unique_prefix());
    let lease = store.lease_grant(TTL).await.unwrap();
    store.lease_revoke(lease.id).await.unwrap();
    let err = store
        .create_with(&key, &widget("ttl", "red"), &CreateOptions::lease(lease.id))
        .await
        .unwrap_err();
    assert!(err.is_lease_not_found(), "{err}");
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// A background keep-alive keeps a TTL key alive for many TTLs, and reports the lease lost
/// when it is revoked elsewhere.
pub async fn background_keep_alive_keeps_key_and_reports_loss<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/ttl", unique_prefix());
    let (_, lease) = create_with_ttl(&store, &key, &widget("ttl", "red"), TTL)
        .await
        .unwrap();
    let keeper = Session::keep_alive(&store, lease);
    tokio::time::sleep(TTL * 3).await;
    assert!(keeper.is_alive());
    assert!(
        store.get::<Widget>(&key).await.is_ok(),
        "kept alive past three ttls"
    );
    store.lease_revoke(lease.id).await.unwrap();
    let reason = tokio::time::timeout(super::EVENT_TIMEOUT, keeper.lost())
        .await
        .expect("loss reported");
    assert_eq!(reason, LeaseLoss::ExpiredOrRevoked);
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// Dropping the keep-alive handle stops renewing: the key expires.
pub async fn dropped_keep_alive_lets_key_expire<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/ttl", unique_prefix());
    let (_, lease) = create_with_ttl(&store, &key, &widget("ttl", "red"), TTL)
        .await
        .unwrap();
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    let keeper = Session::keep_alive(&store, lease);
    tokio::time::sleep(TTL * 2).await;
    assert!(store.get::<Widget>(&key).await.is_ok());
    drop(keeper);
    assert!(is_deleted(&next_event(&mut events).await));
}

/// A lease reads back without being renewed: its time to live, the time left and its keys in
/// key order; it is listed while it lives, and neither read nor listed once revoked. Reading
/// it over and over does not keep it alive.
pub async fn lease_info_shows_time_left_and_keys<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    create_on(&store, &prefix, &["b", "a"], lease.id).await;
    let info = store
        .lease_info(lease.id)
        .await
        .unwrap()
        .expect("a live lease");
    assert_eq!(info.id, lease.id);
    assert_eq!(info.ttl, lease.ttl);
    assert!(info.remaining <= info.ttl, "{info:?}");
    assert!(
        info.remaining >= info.ttl - Duration::from_secs(30),
        "{info:?}"
    );
    assert_eq!(info.keys, [format!("{prefix}/a"), format!("{prefix}/b")]);
    assert!(store.leases().await.unwrap().contains(&lease.id));
    store.lease_revoke(lease.id).await.unwrap();
    assert_eq!(store.lease_info(lease.id).await.unwrap(), None);
    assert!(!store.leases().await.unwrap().contains(&lease.id));

    let key = format!("{prefix}/short");
    let (_, short) = create_with_ttl(&store, &key, &widget("short", "red"), TTL)
        .await
        .unwrap();
    let read_until_gone = async {
        while store.lease_info(short.id).await.unwrap().is_some() {
            tokio::time::sleep(TTL / 8).await;
        }
    };
    tokio::time::timeout(TTL * 2 + super::EVENT_TIMEOUT, read_until_gone)
        .await
        .expect("a lease only read expires");
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    if store.get::<Widget>(&key).await.is_ok() {
        assert!(is_deleted(&next_event(&mut events).await));
    }
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_leases_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            ttl_expiry_deletes_and_notifies: Shared,
            keep_alive_keeps_key: Shared,
            revoke_deletes_at_once: Shared,
            update_keeps_the_lease: Shared,
            dead_lease_is_rejected: Shared,
            background_keep_alive_keeps_key_and_reports_loss: Shared,
            dropped_keep_alive_lets_key_expire: Shared,
            lease_info_shows_time_left_and_keys: Shared,
        }
    };
}
