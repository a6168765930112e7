//! [`StoredVersions`]: the record of which versions of a kind a collection may still hold, as
//! Kubernetes' `storedVersions`.
//!
//! The record of the kind `Widget` of group `example.com` in the collection `/widgets` is the
//! JSON value at `/widgets.versions/Widget.example.com` — a sibling of the collection's
//! directory, so its lists and watches never meet it. It is kept only for kinds with several
//! versions ([`Scheme::versions`](crate::Scheme::versions)). The first write of a store
//! through the collection makes sure the storage version is in it (a new record lists every
//! registered version: before a migration, any of them may be stored); a
//! [migration](super::Collection::migrate) that completes leaves the storage version alone.
//! Writes through [`Store`](crate::Store) by key (and transactions) know no collection and
//! leave the record alone; they write the storage version all the same. An operator can delete
//! a version from the code once no record lists it.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Collection;
use crate::backend::{Compare, PutLease, RangeRequest, Txn, TxnOp};
use crate::codec::CodecFor;
use crate::error::{Error, Result};
use crate::key::{join, validate_key};
use crate::meta::TypeMeta;
use crate::object::Object;

/// Which versions of a kind a collection may still hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredVersions {
    /// The kind, e.g. `Widget`.
    pub kind: String,
    /// The API group, e.g. `example.com` (empty for none).
    pub group: String,
    /// The API versions objects may be stored in (e.g. `example.com/v1`), sorted.
    pub stored_versions: Vec<String>,
}

/// The store's memory of the records it has brought up to date: record key and version.
#[derive(Debug, Default)]
pub(crate) struct Recorded(Mutex<HashSet<(String, String)>>);

impl Recorded {
    fn contains(&self, key: &str, version: &str) -> bool {
        let recorded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.contains(&(key.to_owned(), version.to_owned()))
    }
    fn insert(&self, key: String, version: String) {
        let mut recorded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.insert((key, version));
    }
}

impl<K: Object, C: CodecFor<K>> Collection<K, C> {
    /// The key of the record of `K`'s kind in this collection.
    pub fn stored_versions_key(&self) -> Result<String> {
        let kind = K::type_meta();
        let name = match kind.group() {
            "" => kind.kind.clone(),
            group => format!("{}.{}", kind.kind, group.replace('/', ".")),
        };
        let key = join(&format!("{}.versions", self.prefix), &name);
        validate_key(&key)?;
        Ok(key)
    }

    /// The record of which versions of `K`'s kind this collection may hold; `None` when there
    /// is none yet (a kind with one version, or nothing written since versions were
    /// registered).
    pub async fn stored_versions(&self) -> Result<Option<StoredVersions>> {
        let key = self.stored_versions_key()?;
        Ok(self.read_record(&key).await?.map(|(record, _)| record))
    }

    async fn read_record(&self, key: &str) -> Result<Option<(StoredVersions, u64)>> {
        let response = self.store.backend().range(RangeRequest::key(key)).await?;
        let Some(kv) = response.kvs.into_iter().next() else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&kv.value).map_err(|e| Error::Codec {
            key: key.to_owned(),
            source: crate::codec::CodecError::Malformed {
                format: "json",
                source: e.into(),
            },
        })?;
        Ok(Some((record, kv.mod_revision)))
    }

    /// Makes sure the record lists the storage version, once per store (before a write).
    pub(super) async fn record_storage_version(&self) -> Result<()> {
        let Some(storage) = self.store.scheme().storage_version(&K::type_meta()) else {
            return Ok(());
        };
        let key = self.stored_versions_key()?;
        let recorded = self.store.versions_recorded();
        if recorded.contains(&key, &storage.api_version) {
            return Ok(());
        }
        let storage = storage.api_version.clone();
        self.update_record(&key, |versions| {
            versions.insert(storage.clone());
        })
        .await?;
        recorded.insert(key, storage);
        Ok(())
    }

    /// Sets the record to the storage version alone (after a complete migration).
    pub(super) async fn record_migrated(&self, storage: &TypeMeta) -> Result<()> {
        let key = self.stored_versions_key()?;
        self.update_record(&key, |versions| {
            versions.clear();
            versions.insert(storage.api_version.clone());
        })
        .await
    }

    /// Applies `change` to the record's versions (a new record starts from every registered
    /// version), compare-and-swap, retried on conflict.
    async fn update_record(
        &self,
        key: &str,
        mut change: impl FnMut(&mut BTreeSet<String>),
    ) -> Result<()> {
        let kind = K::type_meta();
        for _ in 0..self.store.max_update_attempts() {
            let (mut versions, guard, exists): (BTreeSet<String>, _, _) =
                match self.read_record(key).await? {
                    Some((record, revision)) => (
                        record.stored_versions.into_iter().collect(),
                        Compare::mod_revision(key, revision),
                        true,
                    ),
                    None => (
                        self.store
                            .scheme()
                            .versions_of(&kind)
                            .into_iter()
                            .map(|v| v.api_version)
                            .collect(),
                        Compare::absent(key),
                        false,
                    ),
                };
            let before = versions.clone();
            change(&mut versions);
            if exists && versions == before {
                return Ok(());
            }
            let record = StoredVersions {
                kind: kind.kind.clone(),
                group: kind.group().to_owned(),
                stored_versions: versions.into_iter().collect(),
            };
            let value = serde_json::to_vec(&record).map_err(|e| {
                Error::from_codec(
                    key,
                    crate::codec::CodecError::Encode {
                        format: "json",
                        source: e.into(),
                    },
                )
            })?;
            let txn =
                Txn::when([guard]).then(TxnOp::put(key, Bytes::from(value), PutLease::Detach));
            if self.store.backend().txn(txn).await?.succeeded {
                return Ok(());
            }
        }
        Err(Error::TooManyConflicts {
            key: key.to_owned(),
            attempts: self.store.max_update_attempts(),
        })
    }
}
