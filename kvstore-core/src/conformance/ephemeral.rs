//! Ephemeral objects.

use std::time::Duration;

use super::faults::Partition;
use super::leases::TTL;
use super::{next_event, unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::coordination::{Ephemeral, LeaseLoss};
use crate::store::{Store, WatchEvent, WatchFrom};

/// `set` writes (and rewrites) the object on the kept-alive lease, `renew` renews, `destroy`
/// deletes at once; dropping the handle deletes too; a TTL below the minimum is refused.
pub async fn ephemeral_set_renew_destroy<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let key = format!("{prefix}/node");
    let node = Ephemeral::new(&store, &key, TTL).await.unwrap();
    assert!(
        store.get::<Widget>(&key).await.unwrap_err().is_not_found(),
        "nothing written before set"
    );
    let first = node.set(&widget("node", "red")).await.unwrap();
    assert!(first.metadata.uid.is_some() && first.metadata.creation_timestamp.is_some());
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), first);
    tokio::time::sleep(TTL * 3).await;
    let mut second = first.clone();
    second.color = "blue".to_owned();
    let second = node.set(&second).await.unwrap();
    assert!(super::revision_of(&second) > super::revision_of(&first));
    assert_eq!(
        second.metadata.uid, first.metadata.uid,
        "a given uid is kept"
    );
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), second);
    assert!(node.renew().await.unwrap() >= TTL);
    node.destroy().await.unwrap();
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());

    let dropped = Ephemeral::new(&store, &key, TTL).await.unwrap();
    dropped.set(&widget("node", "red")).await.unwrap();
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    drop(dropped);
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::Deleted(_)
    ));
    let err = Ephemeral::new(&store, &key, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

/// The owner is cut off (stops renewing): it is told the lease is lost before the key
/// vanishes, the key vanishes within TTL + 1 s, and `set` then fails instead of writing.
pub async fn ephemeral_key_vanishes_after_owner_stops<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/node", unique_prefix());
    let partition = Partition::default();
    let node = Ephemeral::new(&partition.wrap(&store), &key, TTL)
        .await
        .unwrap();
    node.set(&widget("node", "red")).await.unwrap();
    let mut events = store.watch::<Widget>(&key, WatchFrom::Now).await.unwrap();
    let cut = tokio::time::Instant::now();
    partition.cut();
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::Deleted(_)
    ));
    assert!(cut.elapsed() <= TTL + Duration::from_secs(1));
    assert!(!node.is_alive(), "the owner was told first");
    partition.heal();
    let err = node.set(&widget("node", "red")).await.unwrap_err();
    assert!(err.is_lease_not_found(), "{err}");
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// A lease revoked elsewhere: the owner is told at its next renewal, and `set`, `renew` and `destroy`
/// report it.
pub async fn ephemeral_owner_is_told_of_loss<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/node", unique_prefix());
    let node = Ephemeral::new(&store, &key, TTL).await.unwrap();
    node.set(&widget("node", "red")).await.unwrap();
    store.lease_revoke(node.lease().unwrap()).await.unwrap();
    let reason = tokio::time::timeout(EVENT_TIMEOUT, node.lost())
        .await
        .expect("loss reported");
    assert_eq!(reason, LeaseLoss::ExpiredOrRevoked);
    assert!(node
        .set(&widget("node", "red"))
        .await
        .unwrap_err()
        .is_lease_not_found());
    assert!(node.renew().await.unwrap_err().is_lease_not_found());
    assert!(node.destroy().await.unwrap_err().is_lease_not_found());
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_ephemeral_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            ephemeral_set_renew_destroy: Shared,
            ephemeral_key_vanishes_after_owner_stops: Shared,
            ephemeral_owner_is_told_of_loss: Shared,
        }
    };
}
