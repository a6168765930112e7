//! Concurrent clients calling a store at random, each call recorded with its times and
//! answer: the history the checkers read.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore_core::codec::CodecFor;
use kvstore_core::conformance::Widget;
use kvstore_core::{
    Cache, CreateOptions, Error, ListOptions, ObjectMeta, Preconditions, ResourceVersion, Store,
};

use super::operation::{Call, Item, Operation, Outcome, TxnWrite};

/// How long a client waits after a call that failed or whose answer was lost.
const BACK_OFF: Duration = Duration::from_millis(50);

/// What the clients do, and how much.
#[derive(Debug, Clone)]
pub struct Workload {
    /// How many clients call at the same time.
    pub clients: usize,
    /// How many calls each client makes.
    pub calls_per_client: usize,
    /// How many names the calls share (few names, many conflicts).
    pub keys: usize,
    /// The seed of every random choice (printed with every run).
    pub seed: u64,
    /// How long a call may take before the client drops it (a dropped write is ambiguous).
    pub call_timeout: Duration,
    /// Whether some gets are consistent reads from a watch cache.
    pub cached_reads: bool,
    /// Whether the scenario compacts history: then a watch resumed from a revision compacted
    /// away may answer `Gone`, as the semantics allow.
    pub compacts: bool,
    /// The longest pause a client takes before each call (each pause is random, up to it):
    /// spreads a run over the faults of a fast store.
    pub pause: Duration,
    /// One call in this many is dropped by its client after a random wait of up to
    /// `cancel_within`, mid-request when the store is slower (`None`: no call is dropped).
    pub cancel_one_in: Option<u32>,
    /// The longest wait before a call chosen to be dropped is dropped.
    pub cancel_within: Duration,
    /// With a time to live: one more client creates names under a lease of that TTL, renews
    /// it for a while, then pauses (stops renewing) until the lease expires, reading its names
    /// until they are gone. The expiry is recorded as a transaction deleting them all that may
    /// happen at any time after the pause began.
    pub lease_expiry: Option<Duration>,
}

impl Workload {
    /// `clients` clients making `calls_per_client` calls each on 5 names, with the seed of
    /// `KVSTORE_HISTORY_SEED` or a random one.
    pub fn new(clients: usize, calls_per_client: usize) -> Self {
        let seed = std::env::var("KVSTORE_HISTORY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(crate::random_u64);
        Workload {
            clients,
            calls_per_client,
            keys: 5,
            seed,
            call_timeout: Duration::from_secs(5),
            cached_reads: true,
            compacts: false,
            pause: Duration::ZERO,
            cancel_one_in: None,
            cancel_within: Duration::ZERO,
            lease_expiry: None,
        }
    }

    /// One call in `one_in` is dropped after a random wait of up to `within`.
    pub fn cancelling(mut self, one_in: u32, within: Duration) -> Self {
        self.cancel_one_in = Some(one_in.max(1));
        self.cancel_within = within;
        self
    }

    /// One more client lets a lease of `ttl` expire during the run (see
    /// [`Workload::lease_expiry`]).
    pub fn expiring_lease(mut self, ttl: Duration) -> Self {
        self.lease_expiry = Some(ttl);
        self
    }

    /// Clients pause up to `pause` before each call.
    pub fn paced(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// For a scenario that compacts history (see [`Workload::compacts`]).
    pub fn compacting(mut self) -> Self {
        self.compacts = true;
        self
    }

    /// The calls each client makes: `calls_per_client`, times `KVSTORE_HISTORY_SCALE` (the
    /// long mode) when set.
    pub fn scaled(mut self) -> Self {
        if let Some(scale) = std::env::var("KVSTORE_HISTORY_SCALE")
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            self.calls_per_client *= scale.max(1);
        }
        self
    }
}

/// One clock for every client: nanoseconds since the run began.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(Instant);

impl Clock {
    pub(crate) fn new() -> Self {
        Clock(Instant::now())
    }
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A client's calls, recorded.
pub(crate) struct Client<C> {
    pub(crate) id: usize,
    pub(crate) store: Store<C>,
    pub(crate) prefix: String,
    pub(crate) cache: Option<Arc<Cache<Widget>>>,
    pub(crate) workload: Workload,
    pub(crate) clock: Clock,
}

/// The resource version of an object read or written.
pub(crate) fn rev_of(widget: &Widget) -> u64 {
    widget
        .metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn widget(name: &str, value: &str, rev: Option<u64>) -> Widget {
    let mut metadata = ObjectMeta::named(name);
    metadata.resource_version = rev.map(|r| r.to_string());
    Widget {
        metadata,
        color: value.to_owned(),
        count: 0,
    }
}

/// How an error answers a call: definite for a read that failed (it constrains nothing);
/// for a write, what the error says of its fate.
fn classify(error: &Error, write: bool) -> Outcome {
    if error.is_not_found() {
        Outcome::NotFound
    } else if error.is_already_exists() {
        Outcome::AlreadyExists
    } else if error.is_conflict() {
        Outcome::Conflict
    } else if !write || error.is_unavailable() || error.is_closed() {
        // Unavailable: the store says nothing was sent, so nothing was written.
        Outcome::Failed
    } else if matches!(error, Error::TooManyConflicts { .. }) {
        Outcome::Failed
    } else {
        Outcome::Ambiguous
    }
}

impl<C: CodecFor<Widget> + Send + Sync + 'static> Client<C> {
    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// Makes the client's calls; returns them recorded.
    pub(crate) async fn run(self) -> Vec<Operation> {
        let mut rng = fastrand::Rng::with_seed(self.workload.seed ^ (self.id as u64 + 1));
        let mut known: HashMap<String, u64> = HashMap::new();
        let mut recorded = Vec::with_capacity(self.workload.calls_per_client);
        for n in 0..self.workload.calls_per_client {
            let name = format!("k{}", rng.usize(..self.workload.keys));
            let value = format!("c{}-{n}", self.id);
            let expected = known.get(&name).copied().unwrap_or(1);
            let call = match rng.u8(..100) {
                0..15 => Call::Create { key: name, value },
                15..30 => Call::Get {
                    key: name,
                    cached: false,
                },
                30..38 if self.cache.is_some() => Call::Get {
                    key: name,
                    cached: true,
                },
                30..45 => Call::List,
                45..62 => Call::Update {
                    key: name,
                    value,
                    expected,
                },
                62..74 => Call::GuaranteedUpdate {
                    key: name,
                    token: value,
                },
                74..86 => Call::Delete {
                    key: name,
                    expected: rng.bool().then_some(expected),
                },
                _ => {
                    let other = format!("k{}", rng.usize(..self.workload.keys));
                    let second = match known.get(&other) {
                        Some(&rev) if other != name && rng.bool() => TxnWrite::Delete {
                            key: other,
                            expected: rev,
                        },
                        _ if other != name => TxnWrite::Create {
                            key: other,
                            value: format!("{value}-b"),
                        },
                        _ => TxnWrite::Create {
                            key: format!("k{}", self.workload.keys),
                            value: format!("{value}-b"),
                        },
                    };
                    let first = TxnWrite::Update {
                        key: name,
                        value,
                        expected,
                    };
                    Call::Txn {
                        writes: vec![first, second],
                    }
                }
            };
            let pause = u64::try_from(self.workload.pause.as_micros()).unwrap_or(u64::MAX);
            if pause > 0 {
                tokio::time::sleep(Duration::from_micros(rng.u64(..pause))).await;
            }
            let mut timeout = self.workload.call_timeout;
            if let Some(one_in) = self.workload.cancel_one_in {
                if rng.u32(..one_in) == 0 {
                    let within = u64::try_from(self.workload.cancel_within.as_micros());
                    timeout = Duration::from_micros(rng.u64(..within.unwrap_or(1).max(1)));
                }
            }
            let invoke = self.clock.now();
            let answered = tokio::time::timeout(timeout, self.call(&call)).await;
            let outcome = match answered {
                Ok(outcome) => outcome,
                // Dropped in flight: a write may have been applied, a read says nothing.
                Err(_) if call.is_write() => Outcome::Ambiguous,
                Err(_) => Outcome::Failed,
            };
            learn(&mut known, &call, &outcome);
            if matches!(outcome, Outcome::Failed | Outcome::Ambiguous) {
                // As a service would, the client backs off before its next call: an outage
                // spreads over calls instead of failing them all at once.
                tokio::time::sleep(BACK_OFF).await;
            }
            recorded.push(self.operation(invoke, call, outcome));
        }
        recorded
    }

    async fn call(&self, call: &Call) -> Outcome {
        match call {
            Call::Create { key, value } => {
                let object = widget(key, value, None);
                match self.store.create(&self.key(key), &object).await {
                    Ok(w) => Outcome::Written { rev: rev_of(&w) },
                    Err(e) => classify(&e, true),
                }
            }
            Call::Get { key, cached: false } => {
                match self.store.get::<Widget>(&self.key(key)).await {
                    Ok(w) => Outcome::Found {
                        rev: rev_of(&w),
                        value: w.color,
                    },
                    Err(e) if e.is_not_found() => Outcome::Absent,
                    Err(e) => classify(&e, false),
                }
            }
            Call::Get { key, cached: true } => {
                let Some(cache) = &self.cache else {
                    return Outcome::Failed;
                };
                match cache.consistent_get(key).await {
                    Ok(Some(w)) => Outcome::Found {
                        rev: rev_of(&w),
                        value: w.color.clone(),
                    },
                    Ok(None) => Outcome::Absent,
                    Err(e) => classify(&e, false),
                }
            }
            Call::List => {
                let listed = self
                    .store
                    .list::<Widget>(&self.prefix, &ListOptions::default())
                    .await;
                match listed {
                    Ok(list) => Outcome::Listed {
                        rev: list.metadata.resource_version.revision(),
                        items: list
                            .items
                            .into_iter()
                            .map(|w| Item {
                                key: w.metadata.name.clone(),
                                rev: rev_of(&w),
                                value: w.color,
                            })
                            .collect(),
                    },
                    Err(e) => classify(&e, false),
                }
            }
            Call::Update {
                key,
                value,
                expected,
            } => {
                let object = widget(key, value, Some(*expected));
                match self.store.update(&self.key(key), &object).await {
                    Ok(w) => Outcome::Written { rev: rev_of(&w) },
                    Err(e) => classify(&e, true),
                }
            }
            Call::GuaranteedUpdate { key, token } => {
                let append = |w: &mut Widget| w.color = format!("{}+{token}", w.color);
                match self.store.guaranteed_update(&self.key(key), append).await {
                    Ok(w) => Outcome::Updated {
                        rev: rev_of(&w),
                        value: w.color,
                    },
                    Err(e) => classify(&e, true),
                }
            }
            Call::Delete { key, expected } => {
                let preconditions = match expected.and_then(|r| ResourceVersion::new(r).ok()) {
                    Some(rv) => Preconditions::resource_version(rv),
                    None => Preconditions::none(),
                };
                match self
                    .store
                    .delete::<Widget>(&self.key(key), &preconditions)
                    .await
                {
                    Ok(w) => Outcome::Deleted {
                        rev: rev_of(&w),
                        value: w.color,
                    },
                    Err(e) => classify(&e, true),
                }
            }
            Call::Txn { writes } => self.transaction(writes).await,
        }
    }

    async fn transaction(&self, writes: &[TxnWrite]) -> Outcome {
        let mut txn = self.store.txn();
        for write in writes {
            txn = match write {
                TxnWrite::Create { key, value } => {
                    txn.create(&self.key(key), &widget(key, value, None))
                }
                TxnWrite::Update {
                    key,
                    value,
                    expected,
                } => txn.update(&self.key(key), &widget(key, value, Some(*expected))),
                TxnWrite::Delete { key, expected } => {
                    let Ok(rv) = ResourceVersion::new(*expected) else {
                        return Outcome::Failed;
                    };
                    txn.delete::<Widget>(&self.key(key), &Preconditions::resource_version(rv))
                }
            };
        }
        match txn.commit().await {
            Ok(outcome) if outcome.applied() => match outcome.resource_version() {
                Some(rv) => Outcome::Written { rev: rv.revision() },
                None => Outcome::Ambiguous,
            },
            Ok(_) => Outcome::Rejected,
            Err(e) => match classify(&e, true) {
                // A transaction's failed condition is its answer, not an error.
                Outcome::Conflict | Outcome::NotFound | Outcome::AlreadyExists => Outcome::Rejected,
                other => other,
            },
        }
    }
}

/// How many names the lease-holding client creates under its lease.
const LEASED_NAMES: usize = 3;

impl<C: CodecFor<Widget> + Send + Sync + 'static> Client<C> {
    /// The lease holder's calls (see [`Workload::lease_expiry`]).
    pub(crate) async fn hold_lease(self, ttl: Duration) -> Vec<Operation> {
        let mut recorded = Vec::new();
        let lease = crate::until_answered(|| self.store.lease_grant(ttl)).await;
        let names: Vec<String> = (0..LEASED_NAMES).map(|i| format!("lease{i}")).collect();
        for name in &names {
            let value = format!("leased-{name}");
            let object = widget(name, &value, None);
            let options = CreateOptions::lease(lease.id);
            let invoke = self.clock.now();
            let created = self
                .store
                .create_with(&self.key(name), &object, &options)
                .await;
            let outcome = match created {
                Ok(w) => Outcome::Written { rev: rev_of(&w) },
                Err(e) => classify(&e, true),
            };
            let call = Call::Create {
                key: name.clone(),
                value,
            };
            recorded.push(self.operation(invoke, call, outcome));
        }
        // Renewed for about one time to live, then the holder pauses.
        for _ in 0..4 {
            tokio::time::sleep(ttl / 4).await;
            let _ = self.store.lease_renew(lease.id).await;
        }
        // The expiry deletes every name of the lease in one revision, as a transaction would.
        let paused = self.clock.now();
        let writes: Vec<TxnWrite> = recorded
            .iter()
            .filter_map(|op| match (&op.call, &op.outcome) {
                (Call::Create { key, .. }, Outcome::Written { rev }) => Some(TxnWrite::Delete {
                    key: key.clone(),
                    expected: *rev,
                }),
                _ => None,
            })
            .collect();
        recorded.push(self.operation(paused, Call::Txn { writes }, Outcome::Ambiguous));
        // Read until the names are gone (the expiry seen), for at most three times to live.
        let deadline = tokio::time::Instant::now() + ttl * 3;
        for name in &names {
            while tokio::time::Instant::now() < deadline {
                let call = Call::Get {
                    key: name.clone(),
                    cached: false,
                };
                let invoke = self.clock.now();
                let outcome = self.call(&call).await;
                let gone = outcome == Outcome::Absent;
                recorded.push(self.operation(invoke, call, outcome));
                if gone {
                    break;
                }
                tokio::time::sleep(ttl / 10).await;
            }
        }
        recorded
    }

    /// A call that began at `invoke` and was answered now with `outcome` (an ambiguous one
    /// has no return time: it may take effect any time after it began).
    fn operation(&self, invoke: u64, call: Call, outcome: Outcome) -> Operation {
        let ret = (outcome != Outcome::Ambiguous).then(|| self.clock.now());
        Operation {
            client: self.id,
            invoke,
            ret,
            call,
            outcome,
        }
    }
}

/// What a client knows of the names' versions after a call (for its next conditions).
fn learn(known: &mut HashMap<String, u64>, call: &Call, outcome: &Outcome) {
    match (call, outcome) {
        (
            Call::Create { key, .. }
            | Call::Update { key, .. }
            | Call::Get { key, .. }
            | Call::GuaranteedUpdate { key, .. },
            Outcome::Written { rev } | Outcome::Found { rev, .. } | Outcome::Updated { rev, .. },
        ) => {
            known.insert(key.clone(), *rev);
        }
        (Call::List, Outcome::Listed { items, .. }) => {
            for item in items {
                known.insert(item.key.clone(), item.rev);
            }
        }
        (Call::Txn { writes }, Outcome::Written { rev }) => {
            for write in writes {
                known.insert(write.key().to_owned(), *rev);
            }
        }
        _ => {}
    }
}

/// Runs `workload` on `stores` (client `i` uses `stores[i % len]`) under `prefix`, while
/// `faults` runs; returns every call recorded, in the order they began.
pub(crate) async fn run_clients<C, F>(
    stores: &[Store<C>],
    prefix: &str,
    workload: &Workload,
    cache: Option<Arc<Cache<Widget>>>,
    clock: Clock,
    faults: F,
) -> Vec<Operation>
where
    C: CodecFor<Widget> + Send + Sync + 'static,
    F: Future<Output = ()>,
{
    let client = |id: usize| Client {
        id,
        store: stores[id % stores.len()].clone(),
        prefix: prefix.to_owned(),
        cache: cache.clone(),
        workload: workload.clone(),
        clock,
    };
    let mut tasks: Vec<_> = (0..workload.clients)
        .map(|id| tokio::spawn(client(id).run()))
        .collect();
    if let Some(ttl) = workload.lease_expiry {
        tasks.push(tokio::spawn(client(workload.clients).hold_lease(ttl)));
    }
    let clients = futures::future::join_all(tasks);
    let (results, ()) = tokio::join!(clients, faults);
    let mut operations: Vec<Operation> = results
        .into_iter()
        .flat_map(|r| r.expect("a client task"))
        .collect();
    operations.sort_by_key(|op| op.invoke);
    operations
}
