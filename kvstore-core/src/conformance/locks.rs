//! Locks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use std::time::Duration;

use super::election::next_contest_event;
use super::leases::TTL;
use super::{unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::coordination::{Election, ElectionEvent, Ephemeral, Lock, LockGuard, Session, MIN_TTL};
use crate::store::Store;
use crate::ListOptions;
use crate::Result;

async fn acquire<C: TestCodec>(store: &Store<C>, prefix: &str, ttl: Duration) -> Result<LockGuard> {
    Lock::new(store, prefix, ttl)?.acquire().await
}

async fn try_acquire<C: TestCodec>(
    store: &Store<C>,
    prefix: &str,
    ttl: Duration,
) -> Result<Option<LockGuard>> {
    Lock::new(store, prefix, ttl)?.try_acquire().await
}

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
                let guard = acquire(&store, &lock, TTL).await.unwrap();
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
    let holder = acquire(&store, &lock, TTL).await.unwrap();
    let order = Arc::new(parking_order::Order::default());
    let mut waiters = Vec::new();
    for i in 0..3 {
        let (waiter_store, waiter_lock, order) = (store.clone(), lock.clone(), order.clone());
        waiters.push(tokio::spawn(async move {
            let guard = acquire(&waiter_store, &waiter_lock, TTL).await.unwrap();
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
    // The queue read by an operator's tool: the holder first, then the waiters in order.
    let queue = crate::coordination::contenders(&store, &lock)
        .await
        .unwrap();
    assert_eq!(queue.len(), 4);
    assert_eq!(queue[0].fencing_token, holder.fencing_token());
    assert_eq!(queue[0].lease, holder.lease());
    assert!(queue
        .windows(2)
        .all(|w| w[0].fencing_token < w[1].fencing_token));
    assert!(queue
        .iter()
        .all(|c| c.id.is_empty() && c.key.starts_with(&lock)));
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
    let held = try_acquire(&store, &lock, TTL)
        .await
        .unwrap()
        .expect("free lock");
    assert!(try_acquire(&store, &lock, TTL).await.unwrap().is_none());
    held.unlock().await.unwrap();
    let again = try_acquire(&store, &lock, TTL)
        .await
        .unwrap()
        .expect("free again");
    store.lease_revoke(again.lease().unwrap()).await.unwrap();
    assert!(
        again.unlock().await.unwrap_err().is_lease_not_found(),
        "unlock after loss"
    );
    let err = acquire(&store, &lock, std::time::Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

/// A deposed holder is told, and its fenced write fails while the new holder's succeeds.
pub async fn deposed_holder_is_told_and_fenced<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let lock = format!("{prefix}/lock");
    let data = format!("{prefix}/data");
    let first = acquire(&store, &lock, TTL).await.unwrap();
    store.lease_revoke(first.lease().unwrap()).await.unwrap();
    let reason = tokio::time::timeout(super::EVENT_TIMEOUT, first.lost())
        .await
        .expect("loss reported");
    assert_eq!(reason, crate::coordination::LeaseLoss::ExpiredOrRevoked);
    let second = acquire(&store, &lock, TTL).await.unwrap();
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

/// Locks and an election on one session share its lease: unlocking one lock deletes its entry
/// alone (the other lock and the leadership stay), and revoking the session ends them all.
pub async fn locks_and_elections_share_a_session<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let session = Session::new(&store, TTL).await.unwrap();
    let first = Lock::with_session(&session, &format!("{p}/first"))
        .unwrap()
        .acquire()
        .await
        .unwrap();
    let second = Lock::with_session(&session, &format!("{p}/second"))
        .unwrap()
        .acquire()
        .await
        .unwrap();
    let mut election = Election::join_with_session(&session, &format!("{p}/election"), "me")
        .await
        .unwrap();
    assert!(matches!(
        next_contest_event(&mut election).await,
        ElectionEvent::Elected { .. }
    ));
    for lease in [first.lease(), second.lease()] {
        assert_eq!(lease, Some(session.id()), "one lease");
    }

    first.unlock().await.unwrap();
    assert!(second.is_held() && election.is_leader(), "the others stay");
    let taken = try_acquire(&store, &format!("{p}/first"), TTL)
        .await
        .unwrap();
    assert!(taken.is_some(), "the first lock is free");
    assert!(try_acquire(&store, &format!("{p}/second"), TTL)
        .await
        .unwrap()
        .is_none());

    session.clone().revoke().await.unwrap();
    tokio::time::timeout(EVENT_TIMEOUT, second.lost())
        .await
        .expect("the lock is lost with its session");
    assert!(matches!(
        next_contest_event(&mut election).await,
        ElectionEvent::Lost { .. }
    ));
    // A session the store granted less than the safe minimum carries no lock (a store may
    // grant more than asked: etcd's shortest lease is longer than a second).
    let short = Session::new(&store, Duration::from_secs(1)).await.unwrap();
    let refused = short.lease().ttl < MIN_TTL;
    match Lock::with_session(&short, &format!("{p}/short")) {
        Err(err) => assert!(refused && err.is_invalid_argument(), "{err}"),
        Ok(_) => assert!(!refused, "a lock on a {:?} lease", short.lease().ttl),
    }
}

/// Ephemeral objects, locks and elections made from a collection use its names: the ephemeral
/// object is the collection's object of that name; locks and elections live beside the
/// collection, so its lists never meet their entries.
pub async fn coordination_from_a_collection_uses_its_names<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let workers = store
        .collection::<Widget>(&p)
        .unwrap()
        .namespaced("pool")
        .unwrap();
    let presence = Ephemeral::for_collection(&workers, "w1", TTL)
        .await
        .unwrap();
    let written = presence.set(&widget("w1", "busy")).await.unwrap();
    assert_eq!(workers.get("w1").await.unwrap(), written);

    let guard = Lock::for_collection(&workers, "w1", TTL)
        .unwrap()
        .acquire()
        .await
        .unwrap();
    assert!(guard
        .key()
        .starts_with(&workers.coordination_key("w1").unwrap()));
    let mut election = Election::for_collection(&workers, "w1", "me", TTL)
        .await
        .unwrap();
    assert!(matches!(
        next_contest_event(&mut election).await,
        ElectionEvent::Elected { .. }
    ));
    let listed = workers.list(&ListOptions::default()).await.unwrap();
    assert_eq!(listed.items, [written], "only the collection's objects");
    guard.unlock().await.unwrap();
    election.stop().await.unwrap();
    presence.destroy().await.unwrap();
    assert!(workers.get("w1").await.unwrap_err().is_not_found());
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_locks_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            lock_sections_never_overlap: Shared,
            lock_is_first_come_first_served: Shared,
            try_lock_and_unlock_rules: Shared,
            deposed_holder_is_told_and_fenced: Shared,
            locks_and_elections_share_a_session: Shared,
            coordination_from_a_collection_uses_its_names: Shared,
        }
    };
}
