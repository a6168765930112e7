//! Typed transactions: several objects, of any kinds, written atomically (pensando's `NewTxn`).

use std::any::Any;
use std::collections::BTreeMap;

use bytes::Bytes;
use tracing::instrument;

use super::options::Preconditions;
use super::{parse_resource_version, set_resource_version, stored_revision, Store};
use crate::backend::{Compare, KeyValue, PutLease, Txn, TxnOp, TxnOpResult};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::meta::TypeMeta;
use crate::object::Object;
use crate::resource_version::ResourceVersion;

/// The most operations (writes and conditions together) one transaction may hold on every
/// backend kvstore ships: etcd's default `--max-txn-ops`. A backend declares its own limit in
/// its [`Capabilities`](crate::backend::Capabilities), which is what a commit checks.
pub const MAX_TXN_OPS: usize = crate::backend::Capabilities::MAX_TXN_OPS;

type Finish = Box<dyn FnOnce(u64, Option<KeyValue>) -> Result<Box<dyn Any + Send>> + Send>;

/// One write of a transaction.
struct Step {
    key: String,
    write: Write,
    /// Turns the written revision (and, for deletes, the deleted value) into the typed result.
    finish: Finish,
}

enum Write {
    /// The key must not exist.
    Create(Bytes),
    /// The key must be at this revision.
    Update(Bytes, u64),
    /// The key must exist and hold this kind: read first, then a compare-and-swap at the
    /// version read (retried inside the commit when only that version moved on).
    Overwrite(Bytes, TypeMeta),
    /// The key must be at this revision.
    Delete(u64),
    /// Like `Overwrite`, writing back the bytes read: a new resource version, no change.
    Touch(TypeMeta),
}

/// A transaction being built: see [`Store::txn`].
///
/// Each write carries its own condition (create: the key is absent; update and delete: the
/// object is still at the resource version given; unconditional update and touch: the key holds
/// an object of that kind), and [`Transaction::require_exists`],
/// [`Transaction::require_absent`] and [`Transaction::require_version`] add conditions on other
/// keys. [`Transaction::commit`] applies every write or none, at one new resource version that
/// watchers see for all of its changes together.
#[must_use = "a transaction does nothing until committed"]
pub struct Transaction<'s, C> {
    store: &'s Store<C>,
    steps: Vec<Step>,
    conditions: Vec<Compare>,
    /// The first invalid argument, reported by `commit` before anything is sent.
    error: Option<Error>,
}

impl<C: Codec> Store<C> {
    /// Starts a transaction: several objects, of any kinds, written atomically.
    ///
    /// ```
    /// # use kvstore_core::{Object, ObjectMeta, Store, CodecFor};
    /// # #[derive(Clone)] struct Account { metadata: ObjectMeta, balance: i64 }
    /// # impl Object for Account {
    /// #     const KIND: &'static str = "Account"; const API_VERSION: &'static str = "v1";
    /// #     fn metadata(&self) -> &ObjectMeta { &self.metadata }
    /// #     fn metadata_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
    /// # }
    /// # async fn demo<C: CodecFor<Account>>(store: Store<C>) -> kvstore_core::Result<()> {
    /// let mut from: Account = store.get("/accounts/a").await?;
    /// let mut to: Account = store.get("/accounts/b").await?;
    /// from.balance -= 10;
    /// to.balance += 10;
    /// let mut outcome = store.txn().update("/accounts/a", &from).update("/accounts/b", &to).commit().await?;
    /// if outcome.applied() {
    ///     let from: Account = outcome.take(0).expect("the first write's object");
    /// } else {
    ///     // Nothing was written; outcome.conflicts() says which keys moved on.
    /// }
    /// # Ok(()) }
    /// ```
    pub fn txn(&self) -> Transaction<'_, C> {
        Transaction {
            store: self,
            steps: Vec::new(),
            conditions: Vec::new(),
            error: None,
        }
    }
}

impl<'s, C: Codec> Transaction<'s, C> {
    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    fn key_ok(&mut self, key: &str) -> bool {
        match validate_key(key) {
            Ok(()) => true,
            Err(err) => {
                self.error.get_or_insert(err);
                false
            }
        }
    }

    fn push_write<K: Object + Send>(
        mut self,
        key: &str,
        object: &K,
        write: impl FnOnce(Bytes) -> Write,
    ) -> Self
    where
        C: CodecFor<K>,
    {
        if !self.key_ok(key) {
            return self;
        }
        let mut object = object.clone();
        let value = match self.store.encode(key, &mut object) {
            Ok(value) => value,
            Err(err) => return self.fail(err),
        };
        self.steps.push(Step {
            key: key.to_owned(),
            write: write(value),
            finish: Box::new(move |revision, _| {
                set_resource_version(&mut object, revision);
                Ok(Box::new(object))
            }),
        });
        self
    }

    /// Creates `object` at `key` (a new uid and creation timestamp), on condition that the key
    /// is absent. The object must not carry a resource version.
    pub fn create<K: Object + Send>(self, key: &str, object: &K) -> Self
    where
        C: CodecFor<K>,
    {
        if let Some(rv) = &object.metadata().resource_version {
            let message = format!("{key}: resource version {rv:?} must not be set on create");
            return self.fail(Error::InvalidArgument(message));
        }
        let mut object = object.clone();
        object.metadata_mut().stamp_creation();
        self.push_write(key, &object, Write::Create)
    }

    /// Replaces the object at `key`, on condition that it is still at `object`'s resource
    /// version (which must be set).
    pub fn update<K: Object + Send>(self, key: &str, object: &K) -> Self
    where
        C: CodecFor<K>,
    {
        let revision = match object.metadata().resource_version.as_deref() {
            Some(rv) => match parse_resource_version(rv) {
                Ok(revision) => revision,
                Err(err) => return self.fail(err),
            },
            None => {
                let message = format!(
                    "{key}: an update in a transaction needs the resource version it read \
                     (or use update_unconditionally)"
                );
                return self.fail(Error::InvalidArgument(message));
            }
        };
        self.push_write(key, object, |value| Write::Update(value, revision))
    }

    /// Replaces the object at `key` whatever its resource version, on condition that the key
    /// holds an object of kind `K` (never another kind's value).
    pub fn update_unconditionally<K: Object + Send>(self, key: &str, object: &K) -> Self
    where
        C: CodecFor<K>,
    {
        self.push_write(key, object, |value| Write::Overwrite(value, K::type_meta()))
    }

    /// Deletes the object at `key`, on condition that it is still at the resource version of
    /// `preconditions` (required in a transaction: it names the value the caller read as a
    /// `K`). The typed result is the deleted object at the delete's resource version.
    pub fn delete<K: Object + Send>(mut self, key: &str, preconditions: &Preconditions) -> Self
    where
        C: CodecFor<K>,
    {
        if !self.key_ok(key) {
            return self;
        }
        let revision = match (preconditions.resource_version, preconditions.uid) {
            (Some(rv), None) => match stored_revision(rv) {
                Ok(revision) => revision,
                Err(err) => return self.fail(err),
            },
            _ => {
                let message = format!(
                    "{key}: a delete in a transaction takes the resource version it read, \
                     and no uid"
                );
                return self.fail(Error::InvalidArgument(message));
            }
        };
        let store = self.store.clone();
        self.steps.push(Step {
            key: key.to_owned(),
            write: Write::Delete(revision),
            finish: Box::new(move |revision, previous| {
                let previous = previous.ok_or_else(|| Error::Backend {
                    message: "a transaction's delete returned no previous value".to_owned(),
                    source: None,
                })?;
                let mut object: K = store.decode(&previous)?;
                set_resource_version(&mut object, revision);
                Ok(Box::new(object))
            }),
        });
        self
    }

    /// Gives the object at `key` a new resource version without changing it, on condition
    /// that the key holds an object of kind `K`. The typed result is the object at its new
    /// version.
    pub fn touch<K: Object + Send>(mut self, key: &str) -> Self
    where
        C: CodecFor<K>,
    {
        if !self.key_ok(key) {
            return self;
        }
        let store = self.store.clone();
        self.steps.push(Step {
            key: key.to_owned(),
            write: Write::Touch(K::type_meta()),
            finish: Box::new(move |revision, read| {
                let read = read.ok_or_else(|| Error::Backend {
                    message: "a transaction's touch lost the value it read".to_owned(),
                    source: None,
                })?;
                let mut object: K = store.decode(&read)?;
                set_resource_version(&mut object, revision);
                Ok(Box::new(object))
            }),
        });
        self
    }

    /// Adds the condition that a value is stored at `key`.
    pub fn require_exists(mut self, key: &str) -> Self {
        if self.key_ok(key) {
            self.conditions.push(Compare::exists(key));
        }
        self
    }

    /// Adds the condition that nothing is stored at `key`.
    pub fn require_absent(mut self, key: &str) -> Self {
        if self.key_ok(key) {
            self.conditions.push(Compare::absent(key));
        }
        self
    }

    /// Adds the condition that the value at `key` is still at `resource_version`.
    pub fn require_version(mut self, key: &str, resource_version: ResourceVersion) -> Self {
        if !self.key_ok(key) {
            return self;
        }
        match stored_revision(resource_version) {
            Ok(revision) => {
                self.conditions.push(Compare::mod_revision(key, revision));
                self
            }
            Err(err) => self.fail(err),
        }
    }

    /// Applies every write, or none when a condition fails (then
    /// [`TxnOutcome::conflicts`] names each key that did not match, with its current
    /// version). Invalid keys and arguments, and more operations than the backend takes
    /// ([`MAX_TXN_OPS`] on every backend kvstore ships), are
    /// errors before anything is sent; a stored value of another kind than an unconditional
    /// update or touch names is [`Error::KindMismatch`]. One round trip, plus one read per
    /// unconditional update or touch.
    #[instrument(level = "debug", skip(self), fields(writes = self.steps.len(), conditions = self.conditions.len()))]
    pub async fn commit(self) -> Result<TxnOutcome> {
        crate::metrics::measured("txn", "-", async {
            if let Some(err) = self.error {
                return Err(err);
            }
            let operations = self.steps.len() + self.conditions.len();
            let limit = self.store.inner.backend.capabilities().max_txn_ops;
            if operations > limit {
                return Err(Error::InvalidArgument(format!(
                    "a transaction of {operations} operations is over the limit of {limit}"
                )));
            }
            let store = self.store;
            let steps = self.steps;
            // The values unconditional updates and touches write over, and their kinds.
            let to_read: Vec<(String, TypeMeta)> = steps
                .iter()
                .filter_map(|step| match &step.write {
                    Write::Overwrite(_, kind) | Write::Touch(kind) => {
                        Some((step.key.clone(), kind.clone()))
                    }
                    _ => None,
                })
                .collect();
            for _ in 0..store.inner.max_update_attempts {
                let mut read: BTreeMap<String, KeyValue> = BTreeMap::new();
                for (key, kind) in &to_read {
                    match store.get_raw(key).await {
                        Ok(kv) => {
                            store.expect_type_meta(&kv, kind)?;
                            read.insert(key.clone(), kv);
                        }
                        Err(Error::NotFound { .. }) => {
                            return Ok(TxnOutcome::not_applied(vec![TxnConflict {
                                key: key.clone(),
                                current: None,
                            }]));
                        }
                        Err(err) => return Err(err),
                    }
                }
                let txn = build(&self.conditions, &steps, &read);
                let compares = txn.compare.clone();
                let response = store.inner.backend.txn(txn).await?;
                if response.succeeded {
                    let revision = response.revision;
                    let mut deleted = response.results.into_iter().filter_map(|r| match r {
                        TxnOpResult::Delete(mut kvs) => Some(kvs.pop()),
                        _ => None,
                    });
                    let mut objects = Vec::with_capacity(steps.len());
                    for step in steps {
                        let extra = match &step.write {
                            Write::Delete(_) => deleted.next().flatten(),
                            Write::Touch(_) => read.remove(&step.key),
                            _ => None,
                        };
                        objects.push(Some((step.finish)(revision, extra)?));
                    }
                    return Ok(TxnOutcome {
                        applied: true,
                        resource_version: Some(ResourceVersion::of(revision)),
                        objects,
                        conflicts: Vec::new(),
                    });
                }
                // Which compares failed, judged on the values the failure branch read.
                let current: BTreeMap<String, KeyValue> = response
                    .results
                    .into_iter()
                    .filter_map(|r| match r {
                        TxnOpResult::Get(kv) => kv,
                        _ => None,
                    })
                    .map(|kv| (kv.key.clone(), kv))
                    .collect();
                let failed = |compare: &Compare| {
                    let (create, modified) = current
                        .get(&compare.key)
                        .map_or((0, 0), |kv| (kv.create_revision, kv.mod_revision));
                    !compare.holds(create, modified)
                };
                let conflict = |key: &str| TxnConflict {
                    key: key.to_owned(),
                    current: current
                        .get(key)
                        .map(|kv| ResourceVersion::of(kv.mod_revision)),
                };
                let mut conflicts: Vec<TxnConflict> = Vec::new();
                let mut internal_only = true;
                for (compare, internal) in compares
                    .iter()
                    .zip(internal_flags(&self.conditions, &steps))
                {
                    if failed(compare) {
                        internal_only &= internal;
                        if !conflicts.iter().any(|c| c.key == compare.key) {
                            conflicts.push(conflict(&compare.key));
                        }
                    }
                }
                if conflicts.is_empty() || !internal_only {
                    return Ok(TxnOutcome::not_applied(conflicts));
                }
                // Only a value read for an unconditional write moved on: read again.
            }
            Err(Error::TooManyConflicts {
                key: steps.first().map_or_else(String::new, |s| s.key.clone()),
                attempts: store.inner.max_update_attempts,
            })
        })
        .await
    }
}

/// Whether each compare of [`build`]'s transaction was added for a value read inside the
/// commit (not asked for by the caller).
fn internal_flags<'a>(
    conditions: &'a [Compare],
    steps: &'a [Step],
) -> impl Iterator<Item = bool> + 'a {
    conditions.iter().map(|_| false).chain(
        steps
            .iter()
            .map(|s| matches!(s.write, Write::Overwrite(..) | Write::Touch(_))),
    )
}

/// The backend transaction: the caller's conditions and one compare per write, the writes,
/// and a read of every key involved when a compare fails.
fn build(conditions: &[Compare], steps: &[Step], read: &BTreeMap<String, KeyValue>) -> Txn {
    let at_read = |key: &str| read.get(key).map_or(0, |kv| kv.mod_revision);
    let mut txn = Txn::when(conditions.iter().cloned());
    for step in steps {
        let key = step.key.as_str();
        let (compare, op) = match &step.write {
            Write::Create(value) => (
                Compare::absent(key),
                TxnOp::put(key, value.clone(), PutLease::Detach),
            ),
            Write::Update(value, revision) => (
                Compare::mod_revision(key, *revision),
                TxnOp::put(key, value.clone(), PutLease::Keep),
            ),
            Write::Overwrite(value, _) => (
                Compare::mod_revision(key, at_read(key)),
                TxnOp::put(key, value.clone(), PutLease::Keep),
            ),
            Write::Delete(revision) => (Compare::mod_revision(key, *revision), TxnOp::delete(key)),
            Write::Touch(_) => {
                let value = read.get(key).map(|kv| kv.value.clone()).unwrap_or_default();
                (
                    Compare::mod_revision(key, at_read(key)),
                    TxnOp::put(key, value, PutLease::Keep),
                )
            }
        };
        txn.compare.push(compare);
        txn = txn.then(op);
    }
    let mut keys: Vec<&str> = txn.compare.iter().map(|c| c.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let reads: Vec<TxnOp> = keys.into_iter().map(TxnOp::get).collect();
    for op in reads {
        txn = txn.otherwise(op);
    }
    txn
}

/// A key whose condition did not hold, and its current resource version (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConflict {
    /// The key.
    pub key: String,
    /// Its resource version when the transaction was evaluated; `None` when absent.
    pub current: Option<ResourceVersion>,
}

/// What a committed [`Transaction`] did.
#[derive(Debug)]
pub struct TxnOutcome {
    applied: bool,
    resource_version: Option<ResourceVersion>,
    objects: Vec<Option<Box<dyn Any + Send>>>,
    conflicts: Vec<TxnConflict>,
}

impl TxnOutcome {
    fn not_applied(conflicts: Vec<TxnConflict>) -> Self {
        TxnOutcome {
            applied: false,
            resource_version: None,
            objects: Vec::new(),
            conflicts,
        }
    }

    /// Whether every write was applied (else none was).
    pub fn applied(&self) -> bool {
        self.applied
    }

    /// The resource version every write of the transaction got, when applied.
    pub fn resource_version(&self) -> Option<ResourceVersion> {
        self.resource_version
    }

    /// When not applied: each key whose condition failed, with its current version.
    pub fn conflicts(&self) -> &[TxnConflict] {
        &self.conflicts
    }

    /// The typed result of write number `index` (in the order the writes were added): the
    /// object written, or the object deleted, at the transaction's resource version. `None`
    /// when not applied, out of range, already taken, or not a `K`.
    pub fn take<K: Object + Send>(&mut self, index: usize) -> Option<K> {
        let slot = self.objects.get_mut(index)?;
        match slot.take()?.downcast::<K>() {
            Ok(object) => Some(*object),
            Err(other) => {
                *slot = Some(other);
                None
            }
        }
    }
}
