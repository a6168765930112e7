//! The one committer: every write of an engine — transactions, lease revocations and expiries —
//! goes through it.
//!
//! A caller queues its job and waits for either its answer or its turn to commit. The caller
//! whose turn it is takes every job waiting (a revocation goes alone), reads the head and the
//! keys they name in one view (or takes it from what the engine knows, `known`), decides them
//! one after the other on the state the ones before left — each writing one revision of its
//! own — and appends them all in one conditional [`Storage::append`]. If another writer moved
//! the head meanwhile, nothing was written and the batch is decided again on a fresh view; if
//! the store cannot take it at once, it is split.
//! With nobody else writing, a caller commits its own job at once: no task, no hop.
//!
//! Fairness: compare-and-swap writers that lost hear it with the value that won, and retry at
//! once; the next turn first waits until as many jobs are queued as it answered losers (at most
//! half a millisecond, for losers that give up), so that they queue before it takes its batch
//! and contending writers take turns instead of one winning every round — however late the
//! machine runs them.
//!
//! Cancellation: a job not yet taken is withdrawn when its caller gives up; a turn whose caller
//! gives up mid-way is finished by a task, so the batch it holds is still answered.

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use super::decide::{decide, View};
use super::retention;
use super::storage::{Append, Appended, Commit, Revocation, Snapshot, Storage};
use super::Inner;
use crate::backend::{Event, KeyValue, Txn, TxnOp, TxnResponse};
use crate::error::{Error, Result};
use crate::lease::LeaseId;

/// How many times a batch is decided again after another writer took its revision.
const ATTEMPTS: usize = 1000;

/// How long a turn waits at most, after the last one answered lost compares, for their losers
/// to queue again (they retry at once with the value that won, unless they give up).
const LINGER: std::time::Duration = std::time::Duration::from_micros(500);

/// Transactions committed in one append at most.
const MAX_BATCH: usize = 128;

/// What the writer is asked to do.
pub(crate) enum Job {
    /// Run a transaction.
    Txn(Txn),
    /// End a lease, deleting its keys in one revision.
    Revoke(Revocation),
}

/// What it did.
pub(crate) enum Done {
    Txn(TxnResponse),
    /// Whether the lease was removed (`false`: renewed since it was judged expired).
    Revoked(bool),
}

struct Request {
    id: u64,
    job: Job,
    reply: oneshot::Sender<Result<Done>>,
}

#[derive(Default)]
struct Queue {
    next_id: u64,
    jobs: VecDeque<Request>,
}

/// The queue and whose turn it is.
#[derive(Default)]
pub(crate) struct Writer {
    queue: Mutex<Queue>,
    turn: Arc<tokio::sync::Mutex<()>>,
    /// How many compares the last turn answered as failed: the next turn lets their losers
    /// queue first.
    losers: AtomicUsize,
    /// Told of every job queued.
    enqueued: Notify,
}

impl Writer {
    fn enqueue(&self, job: Job, reply: oneshot::Sender<Result<Done>>) -> u64 {
        let mut queue = self.queue.lock();
        queue.next_id += 1;
        let id = queue.next_id;
        queue.jobs.push_back(Request { id, job, reply });
        drop(queue);
        self.enqueued.notify_waiters();
        id
    }

    /// Waits until `losers` jobs are queued, or [`LINGER`] has passed.
    async fn linger(&self, losers: usize) {
        let deadline = tokio::time::Instant::now() + LINGER;
        loop {
            let enqueued = self.enqueued.notified();
            if self.queue.lock().jobs.len() >= losers {
                return;
            }
            if tokio::time::timeout_at(deadline, enqueued).await.is_err() {
                return;
            }
        }
    }

    /// The jobs of one turn: a revocation alone, or up to [`MAX_BATCH`] transactions.
    fn take_batch(&self) -> Vec<Request> {
        let mut queue = self.queue.lock();
        let mut batch = Vec::new();
        while let Some(first) = queue.jobs.front() {
            let revoke = matches!(first.job, Job::Revoke(_));
            if (revoke && !batch.is_empty()) || batch.len() == MAX_BATCH {
                break;
            }
            batch.extend(queue.jobs.pop_front());
            if revoke {
                break;
            }
        }
        batch
    }
}

/// Withdraws a job its caller gave up on before a turn took it.
struct Withdraw<'a> {
    writer: &'a Writer,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.writer.queue.lock().jobs.retain(|r| r.id != self.id);
    }
}

/// Runs `job` through the writer of `inner`.
pub(crate) async fn submit<S: Storage>(inner: &Arc<Inner<S>>, job: Job) -> Result<Done> {
    if let Ok(_turn) = inner.writer.turn.try_lock() {
        let writer = &inner.writer;
        if writer.queue.lock().jobs.is_empty() && writer.losers.load(Ordering::Acquire) == 0 {
            // Alone: commit at once, in the caller's task. Giving up mid-way abandons only
            // this job, and the turn with it.
            return run_alone(inner, job).await;
        }
    }
    let (reply, mut answer) = oneshot::channel();
    let id = inner.writer.enqueue(job, reply);
    let _withdraw = Withdraw {
        writer: &inner.writer,
        id,
    };
    loop {
        tokio::select! {
            biased;
            done = &mut answer => return done.unwrap_or_else(|_| Err(closed())),
            turn = Arc::clone(&inner.writer.turn).lock_owned() => {
                if let Ok(done) = answer.try_recv() {
                    return done;
                }
                let inner = Arc::clone(inner);
                Finish(Some(Box::pin(async move {
                    take_turn(&inner).await;
                    drop(turn);
                })))
                .await;
            }
        }
    }
}

fn closed() -> Error {
    Error::Closed {
        what: "the store's writer".to_owned(),
    }
}

/// A turn's work, finished by a task of its own if the caller running it gives up.
struct Finish(Option<BoxFuture<'static, ()>>);

impl Future for Finish {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(work) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        let done = work.as_mut().poll(cx);
        if done.is_ready() {
            self.0 = None;
        }
        done
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let (Some(work), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(work);
        }
    }
}

async fn take_turn<S: Storage>(inner: &Arc<Inner<S>>) {
    let losers = inner.writer.losers.swap(0, Ordering::AcqRel);
    if losers > 0 {
        inner.writer.linger(losers).await;
    }
    let mut pending = vec![inner.writer.take_batch()];
    while let Some(batch) = pending.pop() {
        if batch.is_empty() {
            continue;
        }
        if let Some(mut too_large) = run(inner, batch).await {
            // The older half first.
            let newer = too_large.split_off(too_large.len() / 2);
            pending.push(newer);
            pending.push(too_large);
        }
    }
}

/// What a batch read before deciding.
struct Read {
    revision: u64,
    /// The compaction point when it was read.
    compacted: u64,
    view: View,
}

/// What committing a batch came to.
enum Outcome {
    /// An answer per job, in order.
    Answered(Vec<Result<Done>>),
    /// This error for every job.
    Failed(Error),
    /// The store cannot take the batch at once: split it.
    TooLarge,
}

/// Decides and appends a batch, answering each job; returns it unanswered when the store
/// cannot take it at once (then split it).
async fn run<S: Storage>(inner: &Arc<Inner<S>>, batch: Vec<Request>) -> Option<Vec<Request>> {
    let jobs: Vec<&Job> = batch.iter().map(|r| &r.job).collect();
    match commit(inner, &jobs).await {
        Outcome::Answered(answers) => {
            for (request, done) in batch.into_iter().zip(answers) {
                note_lost_compare(inner, &request.job, &done);
                let _ = request.reply.send(done);
            }
            None
        }
        Outcome::Failed(err) => {
            for request in batch {
                let _ = request.reply.send(Err(copy(&err)));
            }
            None
        }
        Outcome::TooLarge => Some(batch),
    }
}

/// Commits one job alone.
async fn run_alone<S: Storage>(inner: &Arc<Inner<S>>, job: Job) -> Result<Done> {
    match commit(inner, &[&job]).await {
        Outcome::Answered(mut answers) => {
            let done = answers.pop().unwrap_or_else(|| Err(closed()));
            note_lost_compare(inner, &job, &done);
            done
        }
        Outcome::Failed(err) => Err(err),
        Outcome::TooLarge => Err(too_large(inner)),
    }
}

fn too_large<S: Storage>(inner: &Inner<S>) -> Error {
    Error::InvalidArgument(format!(
        "the transaction is more than {} takes in one write: write fewer or smaller values per transaction",
        inner.storage.name()
    ))
}

/// Decides `jobs` on a fresh view and appends them, again while another writer takes the
/// revision first.
async fn commit<S: Storage>(inner: &Arc<Inner<S>>, jobs: &[&Job]) -> Outcome {
    let mut dead = BTreeSet::new();
    let wanted = Wanted::of(jobs);
    // Whether to read the keys linearizably even when they are known (a view known or read
    // possibly stale proved stale, or proves nothing for an answer without an append).
    let mut fresh = false;
    for _ in 0..ATTEMPTS {
        let known = (!fresh).then(|| wanted.known(inner)).flatten();
        let stale_read = inner.storage.reads_may_be_stale() && wanted.named_only();
        let unproven = !fresh && (known.is_some() || stale_read);
        let (read, presumed_absent) = match known {
            Some(known) => known,
            None => match read(inner, jobs, &wanted, fresh).await {
                Ok(read) => (read, Vec::new()),
                Err(err) => return Outcome::Failed(err),
            },
        };
        let Read {
            revision: head,
            compacted,
            mut view,
        } = read;
        let mut revision = head;
        let mut commits = Vec::new();
        let mut leases = BTreeSet::new();
        let mut revocation = None;
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            answers.push(match job {
                Job::Txn(txn) => decide(&mut view, revision + 1, txn, &dead).map(|decision| {
                    if !decision.events.is_empty() {
                        revision += 1;
                        leases.extend(decision.attaches);
                        commits.push(Arc::new(Commit {
                            revision,
                            events: decision.events,
                        }));
                    }
                    Done::Txn(TxnResponse {
                        succeeded: decision.succeeded,
                        revision,
                        results: decision.results,
                    })
                }),
                Job::Revoke(revoke) => {
                    revocation = Some(*revoke);
                    let events = revoke_events(&view, revoke.lease, revision + 1);
                    if !events.is_empty() {
                        revision += 1;
                        commits.push(Arc::new(Commit { revision, events }));
                    }
                    Ok(Done::Revoked(true))
                }
            });
        }
        if commits.is_empty() && revocation.is_none() {
            if unproven {
                fresh = true;
                continue;
            }
            return Outcome::Answered(answers);
        }
        if !all_created(&presumed_absent, &commits) {
            // A key presumed absent that the commits do not create is not checked: read it.
            fresh = true;
            continue;
        }
        let append = Append {
            head,
            commits,
            leases: leases.into_iter().collect(),
            revocation,
            presumed_absent,
        };
        let appended = match inner.storage.append(&append).await {
            Ok(appended) => appended,
            Err(err) => return Outcome::Failed(err),
        };
        match appended {
            Appended::Done => {
                if revocation.is_some() {
                    // Its deletes are not in the view.
                    inner.known.forget();
                } else {
                    inner.known.learn_append(head, revision, &view);
                }
                inner.heads.learn(revision);
                retention::after_append(inner, revision, compacted);
                return Outcome::Answered(answers);
            }
            Appended::HeadMoved => {
                inner.known.forget();
                fresh = true;
            }
            Appended::LeaseMissing(lease) if revocation.is_some_and(|r| r.lease == lease) => {
                return Outcome::Failed(Error::LeaseNotFound { lease });
            }
            Appended::LeaseMissing(lease) => {
                dead.insert(lease);
            }
            Appended::LeaseRenewed => return Outcome::Answered(vec![Ok(Done::Revoked(false))]),
            Appended::TooLarge if jobs.len() > 1 => return Outcome::TooLarge,
            Appended::TooLarge => return Outcome::Failed(too_large(inner)),
        }
    }
    Outcome::Failed(Error::Unavailable {
        message: format!(
            "{}: lost the race for the next revision {ATTEMPTS} times in a row",
            inner.storage.name()
        ),
        source: None,
    })
}

/// Whether `commits` create every key of `presumed` (their first change of it is a put).
fn all_created(presumed: &[String], commits: &[Arc<Commit>]) -> bool {
    presumed.iter().all(|key| {
        let first = commits
            .iter()
            .flat_map(|commit| &commit.events)
            .find(|event| event.kv.key == *key);
        first.is_some_and(|event| event.kind != crate::EventType::Deleted)
    })
}

/// The delete events of the keys of `view` attached to `lease`.
fn revoke_events(view: &View, lease: LeaseId, revision: u64) -> Vec<Event> {
    view.values()
        .filter(|kv| kv.lease == Some(lease))
        .map(|kv| {
            let tombstone = KeyValue {
                key: kv.key.clone(),
                value: bytes::Bytes::new(),
                create_revision: 0,
                mod_revision: revision,
                lease: None,
            };
            Event::delete(tombstone, kv.clone())
        })
        .collect()
}

/// The keys a batch names, and the ranges its range deletes cover.
struct Wanted<'a> {
    /// Sorted, without duplicates.
    names: Vec<String>,
    ranges: Vec<(&'a String, &'a String)>,
    /// A lease revocation: its lease's keys are read, not named.
    revocation: bool,
}

impl<'a> Wanted<'a> {
    fn of(jobs: &[&'a Job]) -> Wanted<'a> {
        let mut wanted = Wanted {
            names: Vec::new(),
            ranges: Vec::new(),
            revocation: false,
        };
        for job in jobs {
            let txn = match job {
                Job::Txn(txn) => txn,
                Job::Revoke(_) => {
                    wanted.revocation = true;
                    continue;
                }
            };
            wanted
                .names
                .extend(txn.compare.iter().map(|c| c.key.clone()));
            for op in txn.success.iter().chain(&txn.failure) {
                match op {
                    TxnOp::Put { key, .. } | TxnOp::Get { key } | TxnOp::Delete { key } => {
                        wanted.names.push(key.clone());
                    }
                    TxnOp::DeleteRange { key, range_end } => wanted.ranges.push((key, range_end)),
                }
            }
        }
        wanted.names.sort_unstable();
        wanted.names.dedup();
        wanted
    }

    /// Whether the batch names all its keys (no range, no lease's keys): then they may be
    /// known, and [`read`] reads them with [`Storage::get_possibly_stale`] unless fresh.
    fn named_only(&self) -> bool {
        !self.revocation && self.ranges.is_empty()
    }

    /// The view of the named keys from what the engine knows, when it knows every one — or,
    /// on a storage that verifies presumed absence, the others presumed absent (returned); a
    /// range or a lease's keys are always read.
    fn known<S: Storage>(&self, inner: &Inner<S>) -> Option<(Read, Vec<String>)> {
        if !self.named_only() {
            return None;
        }
        let presume = inner.storage.verifies_presumed_absence();
        let (known, presumed) = inner.known.view_presuming(&self.names, presume)?;
        let read = Read {
            revision: known.revision,
            compacted: known.compacted,
            view: known.view,
        };
        Some((read, presumed))
    }
}

/// Reads the view a batch is decided on: every key it names and every key its range deletes
/// cover (a revocation: its lease's keys), all at one revision — possibly stale unless
/// `fresh` (ranges are always read fresh). What it finds of the named keys becomes known.
async fn read<S: Storage>(
    inner: &Inner<S>,
    jobs: &[&Job],
    wanted: &Wanted<'_>,
    fresh: bool,
) -> Result<Read> {
    let storage = &inner.storage;
    if let [Job::Revoke(revoke)] = jobs {
        let found = storage
            .lease_keys(revoke.lease)
            .await?
            .ok_or(Error::LeaseNotFound {
                lease: revoke.lease,
            })?;
        return Ok(view_of(found, Vec::new()));
    }
    'again: loop {
        let mut found = if fresh || !wanted.named_only() {
            storage.get(&wanted.names).await?
        } else {
            storage.get_possibly_stale(&wanted.names).await?
        };
        inner.known.learn_read(&found, &wanted.names);
        for (start, end) in &wanted.ranges {
            let in_range: Snapshot = storage.range(start, end, 0).await?;
            if in_range.revision != found.revision {
                continue 'again;
            }
            found.kvs.extend(in_range.kvs);
        }
        return Ok(view_of(found, wanted.names.clone()));
    }
}

fn view_of(found: Snapshot, absent: Vec<String>) -> Read {
    Read {
        revision: found.revision,
        compacted: found.compacted,
        view: View::new(absent, found.kvs),
    }
}

/// Notes a compare that failed, so the next turn lets its loser queue first.
fn note_lost_compare<S: Storage>(inner: &Inner<S>, job: &Job, done: &Result<Done>) {
    if let (Job::Txn(txn), Ok(Done::Txn(response))) = (job, done) {
        if !response.succeeded && !txn.compare.is_empty() {
            inner.writer.losers.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// A copy of an error for each job of a batch (errors are not `Clone`).
fn copy(err: &Error) -> Error {
    match err {
        Error::Unavailable { message, .. } => Error::Unavailable {
            message: message.clone(),
            source: None,
        },
        Error::Ambiguous { message, .. } => Error::Ambiguous {
            message: message.clone(),
            source: None,
        },
        Error::PermissionDenied { message } => Error::PermissionDenied {
            message: message.clone(),
        },
        Error::Unauthenticated { message } => Error::Unauthenticated {
            message: message.clone(),
        },
        Error::LeaseNotFound { lease } => Error::LeaseNotFound { lease: *lease },
        Error::InvalidArgument(message) => Error::InvalidArgument(message.clone()),
        Error::Gone {
            revision,
            compacted,
        } => Error::Gone {
            revision: *revision,
            compacted: *compacted,
        },
        other => Error::Backend {
            message: other.to_string(),
            source: None,
        },
    }
}
