//! Locks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::leases::TTL;
use super::{unique_prefix, TestCodec};
use crate::store::Store;

/// 4 tasks × 100 critical sections never overlap: a counter updated non-atomically inside the
/// section (read, yield, write) ends exact.
pub async fn lock_sections_never_overlap<C: TestCodec>(store: Store<C>) {
    const TASKS: u64 = 4;
    const SECTIONS: u64 = 100;
    let lock = format!("{}/lock", unique_prefix());
    let counter = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, lock, counter, inside) =
            (store.clone(), lock.clone(), counter.clone(), inside.clone());
        tasks.push(tokio::spawn(async move {
            let mut last_token = 0;
            for _ in 0..SECTIONS {
                let guard = store.lock(&lock, TTL).await.unwrap();
                assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                assert!(guard.fencing_token() > last_token, "tokens increase");
                last_token = guard.fencing_token();
                let seen = counter.load(Ordering::SeqCst);
                tokio::task::yield_now().await;
                counter.store(seen + 1, Ordering::SeqCst);
                inside.store(false, Ordering::SeqCst);
                guard.unlock().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), TASKS * SECTIONS);
}

/// Waiters get the lock first come, first served.
pub async fn lock_is_first_come_first_served<C: TestCodec>(store: Store<C>) {
    let lock = format!("{}/lock", unique_prefix());
    let holder = store.lock(&lock, TTL).await.unwrap();
    let order = Arc::new(parking_order::Order::default());
    let mut waiters = Vec::new();
    for i in 0..3 {
        let (waiter_store, waiter_lock, order) = (store.clone(), lock.clone(), order.clone());
        waiters.push(tokio::spawn(async move {
            let guard = waiter_store.lock(&waiter_lock, TTL).await.unwrap();
            order.push(i);
            guard.unlock().await.unwrap();
        }));
        // Let waiter i enqueue before waiter i + 1.
        let enqueued = async {
            while super::keys_under(&store, &lock).await < i + 2 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(super::EVENT_TIMEOUT, enqueued)
            .await
            .expect("the waiter queued behind the holder");
    }
    holder.unlock().await.unwrap();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    assert_eq!(order.take(), [0, 1, 2]);
}

/// `try_lock` returns at once; unlocking twice (or after loss) is an error; a TTL below the
/// safe minimum is refused.
pub async fn try_lock_and_unlock_rules<C: TestCodec>(store: Store<C>) {
    let lock = format!("{}/lock", unique_prefix());
    let held = store
        .try_lock(&lock, TTL)
        .await
        .unwrap()
        .expect("free lock");
    assert!(store.try_lock(&lock, TTL).await.unwrap().is_none());
    held.unlock().await.unwrap();
    let again = store
        .try_lock(&lock, TTL)
        .await
        .unwrap()
        .expect("free again");
    store.revoke(again.lease().unwrap()).await.unwrap();
    assert!(
        again.unlock().await.unwrap_err().is_lease_not_found(),
        "unlock after loss"
    );
    let err = store
        .lock(&lock, std::time::Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

/// A deposed holder is told, and its fenced write fails while the new holder's succeeds.
pub async fn deposed_holder_is_told_and_fenced<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let lock = format!("{prefix}/lock");
    let data = format!("{prefix}/data");
    let first = store.lock(&lock, TTL).await.unwrap();
    store.revoke(first.lease().unwrap()).await.unwrap();
    let reason = tokio::time::timeout(super::EVENT_TIMEOUT, first.lost())
        .await
        .expect("loss reported");
    assert!(!reason.is_empty());
    let second = store.lock(&lock, TTL).await.unwrap();
    assert!(second.fencing_token() > first.fencing_token());
    assert!(!super::fenced_put(&store, first.fence(), &data).await);
    assert!(super::fenced_put(&store, second.fence(), &data).await);
}

mod parking_order {
    use std::sync::Mutex;

    /// The order in which waiters got the lock.
    #[derive(Default)]
    pub struct Order(Mutex<Vec<usize>>);

    impl Order {
        pub fn push(&self, i: usize) {
            self.0.lock().expect("not poisoned").push(i);
        }
        pub fn take(&self) -> Vec<usize> {
            std::mem::take(&mut *self.0.lock().expect("not poisoned"))
        }
    }
}
