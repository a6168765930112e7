//! Leader election (Election).

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::faults::Partition;
use super::leases::TTL;
use super::{fenced_put, keys_under, unique_prefix, TestCodec, EVENT_TIMEOUT};
use crate::backend::{Txn, TxnOp};
use crate::coordination::{Election, ElectionEvent, LossReason, Observer};
use crate::store::Store;

/// The next event of a contender, failing the case on an error or after [`EVENT_TIMEOUT`].
pub async fn next_contest_event(contest: &mut Election) -> ElectionEvent {
    match tokio::time::timeout(EVENT_TIMEOUT, contest.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(err))) => panic!("{} got an error: {err}", contest.id()),
        Ok(None) => panic!("{}'s events ended", contest.id()),
        Err(_) => panic!("{} got no event within {EVENT_TIMEOUT:?}", contest.id()),
    }
}

/// The next event of a contender that is not an error (a cut-off contender reports its failed
/// store calls).
async fn next_event_skipping_errors(contest: &mut Election) -> ElectionEvent {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, contest.next()).await {
            Ok(Some(Ok(event))) => return event,
            Ok(Some(Err(_))) => continue,
            Ok(None) => panic!("{}'s events ended", contest.id()),
            Err(_) => panic!("{} got no event within {EVENT_TIMEOUT:?}", contest.id()),
        }
    }
}

/// Asserts a contender hears nothing for a while.
async fn assert_no_event(contest: &mut Election) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), contest.next()).await {
        panic!("{} got an unexpected {item:?}", contest.id());
    }
}

fn changed(leader: &str) -> ElectionEvent {
    ElectionEvent::Changed {
        leader: leader.to_owned(),
    }
}

/// Joins contenders one after the other, so they lead in that order; waits until the first
/// leads and every other has seen it.
async fn contenders<C: TestCodec>(store: &Store<C>, name: &str, ids: &[&str]) -> Vec<Election> {
    let mut all = Vec::new();
    for id in ids {
        let mut contest = store.contest(name, id, TTL).await.unwrap();
        let event = next_contest_event(&mut contest).await;
        if all.is_empty() {
            assert!(matches!(event, ElectionEvent::Elected { .. }), "{event:?}");
        } else {
            assert_eq!(event, changed(ids[0]));
        }
        all.push(contest);
    }
    all
}

/// Three contenders joining at once: exactly one is elected, the other two are told who.
pub async fn contest_elects_exactly_one<C: TestCodec>(store: Store<C>) {
    let name = format!("{}/election", unique_prefix());
    let (a, b, c) = tokio::join!(
        store.contest(&name, "a", TTL),
        store.contest(&name, "b", TTL),
        store.contest(&name, "c", TTL),
    );
    let mut all = [a.unwrap(), b.unwrap(), c.unwrap()];
    let mut elected = Vec::new();
    for contest in &mut all {
        if let ElectionEvent::Elected { .. } = next_contest_event(contest).await {
            elected.push(contest.id().to_owned());
        }
    }
    assert_eq!(elected.len(), 1, "exactly one elected: {elected:?}");
    let leader = &elected[0];
    for contest in &mut all {
        assert_eq!(contest.leader().as_ref(), Some(leader));
        assert_eq!(contest.is_leader(), contest.id() == leader);
        assert_eq!(contest.fence().is_some(), contest.id() == leader);
        assert_no_event(contest).await;
    }
    let changed_to_leader = all.iter().filter(|c| c.id() != leader).count();
    assert_eq!(changed_to_leader, 2);
    // The queue read by an operator's tool: the leader first.
    let queue = crate::coordination::contenders(&store, &name)
        .await
        .unwrap();
    let ids: Vec<&str> = queue.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], leader);
    let leader_contest = all.iter().find(|c| c.is_leader()).unwrap();
    assert_eq!(Some(queue[0].fencing_token), leader_contest.fencing_token());
}

/// The leader resigns: the next contender is elected at once (not after a TTL), the resigner
/// is told and queues again; resigning without leading is an error.
pub async fn contest_resign_elects_another<C: TestCodec>(store: Store<C>) {
    let name = format!("{}/election", unique_prefix());
    let mut all = contenders(&store, &name, &["a", "b", "c"]).await;
    let started = Instant::now();
    all[0].resign().await.unwrap();
    assert!(!all[0].is_leader());
    assert!(matches!(
        next_contest_event(&mut all[1]).await,
        ElectionEvent::Elected { .. }
    ));
    assert!(started.elapsed() < TTL, "elected at once, not after expiry");
    assert_eq!(
        next_contest_event(&mut all[0]).await,
        ElectionEvent::Lost {
            reason: LossReason::Resigned
        }
    );
    assert_eq!(next_contest_event(&mut all[0]).await, changed("b"));
    assert_eq!(next_contest_event(&mut all[2]).await, changed("b"));
    let err = all[0].resign().await.unwrap_err();
    assert!(err.is_not_leader(), "{err}");
    assert!(all[1].is_leader());
}

/// The leader is cut off from the store (its keep-alive stops): it is told it lost before
/// another contender is elected, and another is elected within TTL + 1 s.
pub async fn contest_fails_over_when_leader_is_cut_off<C: TestCodec>(store: Store<C>) {
    let name = format!("{}/election", unique_prefix());
    let partition = Partition::default();
    let mut a = partition
        .wrap(&store)
        .contest(&name, "a", TTL)
        .await
        .unwrap();
    assert!(matches!(
        next_contest_event(&mut a).await,
        ElectionEvent::Elected { .. }
    ));
    let mut b = store.contest(&name, "b", TTL).await.unwrap();
    assert_eq!(next_contest_event(&mut b).await, changed("a"));
    let cut = Instant::now();
    partition.cut();
    assert!(matches!(
        next_contest_event(&mut b).await,
        ElectionEvent::Elected { .. }
    ));
    let failover = cut.elapsed();
    assert!(
        failover <= TTL + Duration::from_secs(1),
        "failover took {failover:?}"
    );
    assert!(!a.is_leader(), "the old leader stepped down before");
    assert!(matches!(
        next_event_skipping_errors(&mut a).await,
        ElectionEvent::Lost { .. }
    ));
    partition.heal();
    assert_eq!(next_event_skipping_errors(&mut a).await, changed("b"));
}

/// A deposed leader's fenced write fails; the new leader's succeeds. (The deposed leader's
/// entry is deleted behind its back, as an operator might.)
pub async fn contest_deposed_leader_is_fenced<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let name = format!("{prefix}/election");
    let data = format!("{prefix}/data");
    let mut all = contenders(&store, &name, &["a", "b"]).await;
    let old_fence = all[0].fence().expect("a leads");
    let old_token = all[0].fencing_token().expect("a leads");
    assert!(fenced_put(&store, old_fence.clone(), &data).await);
    store
        .backend()
        .txn(Txn::default().then(TxnOp::delete(&old_fence.key)))
        .await
        .unwrap();
    let ElectionEvent::Elected { fencing_token } = next_contest_event(&mut all[1]).await else {
        panic!("b should be elected");
    };
    assert!(fencing_token > old_token);
    assert!(matches!(
        next_contest_event(&mut all[0]).await,
        ElectionEvent::Lost { .. }
    ));
    assert!(
        !fenced_put(&store, old_fence, &data).await,
        "deposed leader fenced"
    );
    let new_fence = all[1].fence().expect("b leads");
    assert!(fenced_put(&store, new_fence, &data).await);
}

/// A leader process that dies and restarts (same id) within its TTL leads on: the others see
/// no change, the token stays, and the taken-over lease is kept alive.
pub async fn contest_restart_with_same_id_does_not_flap<C: TestCodec>(store: Store<C>) {
    let name = format!("{}/election", unique_prefix());
    let partition = Partition::default();
    let mut first = partition
        .wrap(&store)
        .contest(&name, "a", TTL)
        .await
        .unwrap();
    let ElectionEvent::Elected { fencing_token } = next_contest_event(&mut first).await else {
        panic!("a should be elected");
    };
    let mut b = store.contest(&name, "b", TTL).await.unwrap();
    assert_eq!(next_contest_event(&mut b).await, changed("a"));
    // The process dies: its entry stays until its lease expires.
    partition.cut();
    drop(first);
    let mut again = store.contest(&name, "a", TTL).await.unwrap();
    assert_eq!(
        next_contest_event(&mut again).await,
        ElectionEvent::Elected { fencing_token }
    );
    tokio::time::sleep(TTL * 3).await;
    assert!(again.is_leader(), "the taken-over lease is kept alive");
    assert_eq!(b.leader().as_deref(), Some("a"));
    assert_no_event(&mut b).await;
}

/// Elections whose names share a prefix do not disturb each other.
pub async fn contests_are_independent<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut one = contenders(&store, &format!("{prefix}/election"), &["a", "b"]).await;
    let mut two = contenders(&store, &format!("{prefix}/election2"), &["b", "a"]).await;
    one[0].resign().await.unwrap();
    assert!(matches!(
        next_contest_event(&mut one[1]).await,
        ElectionEvent::Elected { .. }
    ));
    assert!(two[0].is_leader() && !two[1].is_leader());
    assert_no_event(&mut two[0]).await;
    assert_no_event(&mut two[1]).await;
}

/// A TTL too small to be safe, an empty id, an invalid name: clear errors, nothing joined.
pub async fn contest_rejects_unsafe_arguments<C: TestCodec>(store: Store<C>) {
    let name = format!("{}/election", unique_prefix());
    let err = store
        .contest(&name, "a", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        err.is_invalid_argument() && err.to_string().contains("ttl"),
        "{err}"
    );
    let err = store.contest(&name, "", TTL).await.unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    let err = store.contest("no-slash", "a", TTL).await.unwrap_err();
    assert!(err.is_invalid_key(), "{err}");
    assert_eq!(keys_under(&store, &name).await, 0, "nothing joined");
}

/// The next leader an observer tells of, failing the case on an error or after
/// [`EVENT_TIMEOUT`].
async fn next_leader(observer: &mut Observer) -> Option<String> {
    match tokio::time::timeout(EVENT_TIMEOUT, observer.next()).await {
        Ok(Some(Ok(leader))) => leader,
        other => panic!("expected the observed leader, got {other:?}"),
    }
}

/// An observer follows the leader without campaigning: told the current leader (nobody at
/// first), then each change, and never elected itself.
pub async fn observers_follow_the_leader_without_campaigning<C: TestCodec>(store: Store<C>) {
    let name = format!("{}/election", unique_prefix());
    let mut observer = Election::observe(&store, &name).unwrap();
    assert_eq!(next_leader(&mut observer).await, None, "nobody leads yet");
    let all = contenders(&store, &name, &["a", "b"]).await;
    assert_eq!(next_leader(&mut observer).await.as_deref(), Some("a"));
    let [mut a, b]: [Election; 2] = all.try_into().unwrap();
    a.resign().await.unwrap();
    assert!(matches!(
        next_contest_event(&mut a).await,
        ElectionEvent::Lost { .. }
    ));
    assert_eq!(
        next_contest_event(&mut a).await,
        changed("b"),
        "a queued again"
    );
    assert_eq!(next_leader(&mut observer).await.as_deref(), Some("b"));
    assert_eq!(observer.leader().as_deref(), Some("b"));
    b.stop().await.unwrap();
    assert_eq!(next_leader(&mut observer).await.as_deref(), Some("a"));
    a.stop().await.unwrap();
    assert_eq!(next_leader(&mut observer).await, None);
    assert_eq!(
        keys_under(&store, &name).await,
        0,
        "the observer stands nowhere"
    );
    assert!(Election::observe(&store, "no-slash")
        .unwrap_err()
        .is_invalid_key());
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_election_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            contest_elects_exactly_one: Shared,
            contest_resign_elects_another: Shared,
            contest_fails_over_when_leader_is_cut_off: Shared,
            contest_deposed_leader_is_fenced: Shared,
            contest_restart_with_same_id_does_not_flap: Shared,
            contests_are_independent: Shared,
            contest_rejects_unsafe_arguments: Shared,
            observers_follow_the_leader_without_campaigning: Shared,
        }
    };
}
