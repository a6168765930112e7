//! Shared write requests: transactions that arrive while another is in flight are sent
//! together, as the nested transactions of one etcd transaction (etcd 3.3+), each keeping its
//! own compares and branches.
//!
//! A caller never waits when nothing else is in flight: its transaction goes at once, alone.
//! Transactions arriving meanwhile queue; when an in-flight request returns, the queue is sent
//! as one request. A batch never holds two transactions touching the same key (etcd refuses
//! that, and their outcome would depend on each other): a queued transaction touching a key of
//! the batch goes alone beside it, so writers contending for one key race as they would without
//! batching. A batch holds at most 128 transactions (etcd's default `--max-txn-ops`) and about
//! 1 MiB of keys and values (its request limit is 1.5 MiB).
//! Every write of a batch gets the batch's one revision — as the writes of one transaction
//! do — and each transaction's answer is its own: its compares, its branch, its reads. A
//! transaction whose create revision orders it against other writers (a lock or election
//! entry: [`Txn::own_revision`]) always goes alone.
//!
//! A batch that etcd refuses as a whole (a lease gone, an `ignore_lease` put on a key that
//! vanished, a size limit) changed nothing, so its transactions are sent again one by one and
//! each gets its own answer. A batch that got no answer (timeout, server gone) may or may not
//! have been applied: each of its callers gets `Unavailable`, exactly as a request of its own
//! would have.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use kvstore_core::backend::{Txn, TxnOp, TxnResponse};
use kvstore_core::{Error, Result};
use tokio::sync::oneshot;

/// Most transactions in one request (etcd's default `--max-txn-ops`).
const MAX_BATCH: usize = 128;
/// Most bytes of keys and values in one request.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Sends one request: a transaction alone, or a batch of them.
pub(crate) trait Sender: Send + Sync + 'static {
    /// Runs one transaction.
    fn send_one(&self, txn: Txn) -> futures::future::BoxFuture<'_, Result<TxnResponse>>;
    /// Runs `txns` as the nested transactions of one request: one answer per transaction, in
    /// order, or the error of the whole request.
    fn send_batch<'a>(
        &'a self,
        txns: &'a [Txn],
    ) -> futures::future::BoxFuture<'a, Result<Vec<TxnResponse>>>;
}

/// A transaction waiting for the next batch.
struct Queued {
    txn: Txn,
    keys: BTreeSet<String>,
    bytes: usize,
    answer: oneshot::Sender<Result<TxnResponse>>,
}

#[derive(Default)]
struct State {
    /// Requests in flight (alone or batches).
    in_flight: usize,
    queue: VecDeque<Queued>,
}

/// The write batcher of one backend.
pub(crate) struct Batcher<S> {
    sender: Arc<S>,
    /// Requests in flight at most before transactions queue.
    max_in_flight: usize,
    state: Mutex<State>,
}

impl<S: Sender> Batcher<S> {
    pub fn new(sender: Arc<S>, max_in_flight: usize) -> Arc<Self> {
        Arc::new(Batcher {
            sender,
            max_in_flight: max_in_flight.max(1),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change under the lock leaves the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `txn`: at once when few requests are in flight, else in the next batch.
    pub async fn txn(self: &Arc<Self>, txn: Txn) -> Result<TxnResponse> {
        let queued = match self.take_slot() {
            true => None,
            // Range deletes and transactions needing a revision of their own go alone, beside
            // the batches.
            false => match footprint(&txn) {
                None => return self.sender.send_one(txn).await,
                Some((keys, bytes)) => {
                    let (answer, receiver) = oneshot::channel();
                    let queued = Queued {
                        txn: txn.clone(),
                        keys,
                        bytes,
                        answer,
                    };
                    self.enqueue(queued).then_some(receiver)
                }
            },
        };
        match queued {
            None => {
                let answer = self.sender.send_one(txn).await;
                self.request_done();
                answer
            }
            Some(receiver) => receiver.await.unwrap_or_else(|_| {
                Err(Error::Unavailable {
                    message: "the etcd write batch was dropped".to_owned(),
                    source: None,
                })
            }),
        }
    }

    /// Takes an in-flight slot if one is free and nothing queues.
    fn take_slot(&self) -> bool {
        let mut state = self.lock();
        let free = state.in_flight < self.max_in_flight && state.queue.is_empty();
        if free {
            state.in_flight += 1;
        }
        free
    }

    /// Queues `queued`, unless a slot came free meanwhile (then taken, and `false`).
    fn enqueue(&self, queued: Queued) -> bool {
        let mut state = self.lock();
        if state.in_flight < self.max_in_flight && state.queue.is_empty() {
            state.in_flight += 1;
            return false;
        }
        state.queue.push_back(queued);
        true
    }

    /// A request returned: the queue, if any, goes next, in a task of its own (the caller
    /// whose request returned gets its answer at once).
    fn request_done(self: &Arc<Self>) {
        let mut state = self.lock();
        if state.queue.is_empty() {
            state.in_flight -= 1;
            return;
        }
        drop(state);
        tokio::spawn(Arc::clone(self).drive());
    }

    /// Sends batches until the queue is empty; holds the in-flight slot it was given.
    async fn drive(self: Arc<Self>) {
        loop {
            let taken = {
                let mut state = self.lock();
                let taken = take_batch(&mut state.queue);
                if taken.batch.is_empty() {
                    state.in_flight -= 1;
                    return;
                }
                taken
            };
            let sender = &self.sender;
            let alone = taken.contended.into_iter().map(|queued| async move {
                let answer = sender.send_one(queued.txn).await;
                let _ = queued.answer.send(answer);
            });
            futures::future::join(self.send(taken.batch), futures::future::join_all(alone)).await;
        }
    }

    async fn send(&self, batch: Vec<Queued>) {
        if let [_] = batch.as_slice() {
            let Some(one) = batch.into_iter().next() else {
                return;
            };
            let answer = self.sender.send_one(one.txn).await;
            let _ = one.answer.send(answer);
            return;
        }
        let txns: Vec<Txn> = batch.iter().map(|q| q.txn.clone()).collect();
        let span = tracing::trace_span!("etcd write batch", txns = txns.len());
        let answers = tracing::Instrument::instrument(self.sender.send_batch(&txns), span).await;
        match answers {
            Ok(answers) => {
                for (queued, answer) in batch.into_iter().zip(answers) {
                    let _ = queued.answer.send(Ok(answer));
                }
            }
            Err(err) if err.is_unavailable() => {
                for queued in batch {
                    let _ = queued.answer.send(Err(Error::Unavailable {
                        message: err.to_string(),
                        source: None,
                    }));
                }
            }
            // The batch may have been applied: never sent again, each told so.
            Err(err) if err.is_ambiguous() => {
                for queued in batch {
                    let _ = queued.answer.send(Err(Error::Ambiguous {
                        message: err.to_string(),
                        source: None,
                    }));
                }
            }
            Err(err) => {
                // Refused as a whole: nothing was written. Each gets its own answer.
                tracing::debug!(%err, "etcd refused a write batch; sending its transactions alone");
                let alone = batch.into_iter().map(|queued| async move {
                    let answer = self.sender.send_one(queued.txn).await;
                    let _ = queued.answer.send(answer);
                });
                futures::future::join_all(alone).await;
            }
        }
    }
}

/// The keys a transaction touches and its size, or `None` when it cannot share a request (a
/// range delete, whose keys are not known in advance; one that needs a revision of its own).
fn footprint(txn: &Txn) -> Option<(BTreeSet<String>, usize)> {
    if txn.own_revision {
        return None;
    }
    let mut keys = BTreeSet::new();
    let mut bytes = 0;
    for compare in &txn.compare {
        bytes += compare.key.len() + 16;
        keys.insert(compare.key.clone());
    }
    for op in txn.success.iter().chain(&txn.failure) {
        let key = match op {
            TxnOp::Put { key, value, .. } => {
                bytes += value.len();
                key
            }
            TxnOp::Get { key } | TxnOp::Delete { key } => key,
            TxnOp::DeleteRange { .. } => return None,
        };
        bytes += key.len() + 16;
        keys.insert(key.clone());
    }
    Some((keys, bytes))
}

/// What leaves the queue for the next request.
struct Taken {
    /// The transactions of the batch.
    batch: Vec<Queued>,
    /// Transactions touching a key of the batch: each goes alone, beside it, so that writers
    /// contending for one key race in etcd as they would without batching, instead of queueing
    /// behind each other one batch at a time (where all but the first would be stale).
    contended: Vec<Queued>,
}

/// Takes from the front of the queue the transactions of the next batch, in order, up to the
/// limits (the rest stay queued), and those that touch a key already in the batch.
fn take_batch(queue: &mut VecDeque<Queued>) -> Taken {
    let mut taken = Taken {
        batch: Vec::new(),
        contended: Vec::new(),
    };
    let mut keys = BTreeSet::new();
    let mut bytes = 0;
    let mut left = VecDeque::new();
    while let Some(queued) = queue.pop_front() {
        if !queued.keys.is_disjoint(&keys) {
            taken.contended.push(queued);
            continue;
        }
        let fits = taken.batch.len() < MAX_BATCH
            && (taken.batch.is_empty() || bytes + queued.bytes <= MAX_BATCH_BYTES);
        if fits {
            keys.extend(queued.keys.iter().cloned());
            bytes += queued.bytes;
            taken.batch.push(queued);
        } else {
            left.push_back(queued);
            if taken.batch.len() >= MAX_BATCH {
                break;
            }
        }
    }
    left.append(queue);
    *queue = left;
    taken
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kvstore_core::backend::{Compare, PutLease, Txn, TxnOp};
    use tokio::sync::oneshot;

    use super::{footprint, take_batch, Queued};

    fn queued(key: &str, bytes: usize) -> Queued {
        let txn = Txn::when([Compare::absent(key)]).then(TxnOp::put(
            key,
            Bytes::from(vec![0; bytes]),
            PutLease::Detach,
        ));
        let (keys, bytes) = footprint(&txn).unwrap();
        Queued {
            txn,
            keys,
            bytes,
            answer: oneshot::channel().0,
        }
    }

    fn keys(batch: &[Queued]) -> Vec<String> {
        batch
            .iter()
            .map(|q| q.keys.iter().next().unwrap().clone())
            .collect()
    }

    #[test]
    fn a_batch_never_holds_one_key_twice_and_contended_writes_go_alone() {
        let mut queue = ["a", "b", "a", "c", "b"]
            .iter()
            .map(|k| queued(k, 10))
            .collect();
        let taken = take_batch(&mut queue);
        assert_eq!(keys(&taken.batch), ["a", "b", "c"]);
        assert_eq!(keys(&taken.contended), ["a", "b"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_batch_stays_within_the_limits() {
        let mut queue = (0..300).map(|i| queued(&format!("k{i}"), 10)).collect();
        assert_eq!(take_batch(&mut queue).batch.len(), super::MAX_BATCH);
        let mut queue = (0..5)
            .map(|i| queued(&format!("k{i}"), 400 * 1024))
            .collect();
        assert_eq!(take_batch(&mut queue).batch.len(), 2);
        assert_eq!(queue.len(), 3);
        // One transaction over the byte limit still goes, alone.
        let mut queue = [queued("big", 2 << 20)].into_iter().collect();
        assert_eq!(take_batch(&mut queue).batch.len(), 1);
    }

    #[test]
    fn range_deletes_and_own_revisions_go_alone() {
        let txn = Txn::when([]).then(TxnOp::delete_directory("/a"));
        assert!(footprint(&txn).is_none());
        let put = TxnOp::put("/a", Bytes::new(), PutLease::Detach);
        assert!(footprint(&Txn::when([]).then(put.clone())).is_some());
        assert!(footprint(&Txn::when([]).then(put).with_own_revision()).is_none());
    }
}
