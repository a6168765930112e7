//! Storage-version migration ([`Collection::migrate`]): rewriting every object of a kind stored
//! in another version than its storage version, as Kubernetes' storage version migrator does.

use std::ops::ControlFlow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use tracing::instrument;

use super::Collection;
use crate::backend::{Compare, KeyValue, PutLease, RangeRequest, Txn, TxnOp};
use crate::codec::CodecFor;
use crate::error::{Error, Result};
use crate::key::directory_range;
use crate::object::Object;
use crate::scheme::Scheme;

/// How a [`Collection::migrate`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Keys read per page (default 500).
    pub page_size: usize,
    /// Objects rewritten per transaction (default 64, at most
    /// [`MAX_TXN_OPS`](super::MAX_TXN_OPS)); 1 writes each on its own.
    pub batch: usize,
    /// Where to go on from: the [`MigrationProgress::continue_token`] of a migration that
    /// stopped.
    pub resume_from: Option<String>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            page_size: 500,
            batch: 64,
            resume_from: None,
        }
    }
}

/// How far a migration got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationProgress {
    /// Objects of the kind walked so far (this run).
    pub seen: u64,
    /// Objects rewritten in the storage version so far (this run).
    pub migrated: u64,
    /// Where a migration stopped now would resume ([`MigrateOptions::resume_from`]); `None`
    /// once the walk is complete.
    pub continue_token: Option<String>,
}

/// What a stored value needs.
enum Needs {
    /// Nothing: another kind.
    OtherKind,
    /// Nothing: it is in the storage version.
    Current,
    /// To be written again.
    Rewrite(Rewrite),
}

/// An object to rewrite: its key, the revision it was read at, its new value.
struct Rewrite {
    key: String,
    revision: u64,
    value: Bytes,
}

impl<K: Object, C: CodecFor<K>> Collection<K, C> {
    /// Rewrites every object of `K`'s kind under the collection's directory (every namespace,
    /// or the handle's own) that is stored in another version than the kind's storage version.
    ///
    /// The migration walks the directory in key order, a page at a time, each page read at the
    /// latest revision (it needs no snapshot: an object written after the walk passed its key
    /// was written in the storage version). An object in another version is converted to the
    /// storage version and written back with compare-and-swap on the revision it was read at,
    /// keeping its lease; a batch of them goes in one transaction ([`MigrateOptions::batch`]).
    /// When a compare fails (a service wrote the object meanwhile) the object is read and
    /// converted again — a concurrent update is never lost, nor overwritten. Services keep
    /// reading and writing meanwhile.
    ///
    /// `progress` is called after every page with the token to resume from (the last key
    /// walked): a migration stopped by a crash goes on where it was. Returning
    /// [`ControlFlow::Break`] stops it there. An object that cannot be converted (or would lose
    /// data) stops it with the error, naming the key. Other kinds in the directory are left
    /// alone. A migration that walks the whole collection (not one namespace) records that
    /// only the storage version is stored ([`Collection::stored_versions`]): run it once every
    /// program writing the kind writes the new storage version.
    #[instrument(level = "debug", skip(self, progress), fields(kind = K::KIND, prefix = %self.directory()))]
    pub async fn migrate(
        &self,
        options: &MigrateOptions,
        mut progress: impl FnMut(&MigrationProgress) -> ControlFlow<()> + Send,
    ) -> Result<MigrationProgress> {
        let kind = K::type_meta();
        let storage = self
            .store
            .scheme()
            .storage_version(&kind)
            .cloned()
            .unwrap_or_else(|| kind.clone());
        self.record_storage_version().await?;
        let (first, end) = directory_range(&self.directory());
        let mut start = match &options.resume_from {
            Some(token) => resume_key(token, &first, &end)?,
            None => first,
        };
        let batch = options.batch.clamp(1, super::MAX_TXN_OPS);
        // Half the value-size limit per transaction: room for its keys and compares.
        let budget = self.store.capabilities().max_value_size / 2;
        let mut done = MigrationProgress::default();
        loop {
            let page = self
                .store
                .backend()
                .range(RangeRequest {
                    key: start.clone(),
                    range_end: Some(end.clone()),
                    limit: options.page_size.max(1),
                    revision: 0,
                })
                .await?;
            let mut pending: Vec<Rewrite> = Vec::new();
            let mut pending_bytes = 0;
            for kv in &page.kvs {
                let rewrite = match self.needs(kv)? {
                    Needs::OtherKind => continue,
                    Needs::Current => {
                        done.seen += 1;
                        continue;
                    }
                    Needs::Rewrite(rewrite) => rewrite,
                };
                done.seen += 1;
                if pending_bytes + rewrite.value.len() > budget || pending.len() == batch {
                    done.migrated += self.write(std::mem::take(&mut pending)).await?;
                    pending_bytes = 0;
                }
                pending_bytes += rewrite.value.len();
                pending.push(rewrite);
            }
            done.migrated += self.write(pending).await?;
            let last = page.kvs.last().map(|kv| kv.key.clone());
            done.continue_token = match (&last, page.more) {
                (Some(last), true) => Some(URL_SAFE_NO_PAD.encode(last)),
                _ => None,
            };
            if let ControlFlow::Break(()) = progress(&done) {
                return Ok(done);
            }
            match (last, page.more) {
                (Some(last), true) => start = format!("{last}\0"),
                _ => break,
            }
        }
        if self.namespace.is_none() {
            self.record_migrated(&storage).await?;
        }
        Ok(done)
    }

    /// What the stored value `kv` needs.
    fn needs(&self, kv: &KeyValue) -> Result<Needs> {
        let opened = self.store.opened(kv)?;
        let codec = self.store.codec();
        let found = codec
            .type_meta(&opened)
            .map_err(|e| Error::from_codec(&kv.key, e))?;
        if !found.same_kind(&K::type_meta()) {
            return Ok(Needs::OtherKind);
        }
        let scheme = self.store.scheme();
        if scheme.storage_version(&found).is_none() && found != K::type_meta() {
            return Err(Scheme::<C>::unreadable(&kv.key, K::type_meta(), found));
        }
        let Some(encoded) = scheme.reencode_for_storage(codec, &kv.key, &opened, &found)? else {
            return Ok(Needs::Current);
        };
        Ok(Needs::Rewrite(Rewrite {
            key: kv.key.clone(),
            revision: kv.mod_revision,
            value: self.store.seal(&kv.key, encoded)?,
        }))
    }

    /// Writes a batch of rewrites in one transaction; when a compare fails, each on its own.
    /// How many were written.
    async fn write(&self, batch: Vec<Rewrite>) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let compares = batch
            .iter()
            .map(|r| Compare::mod_revision(r.key.as_str(), r.revision));
        let mut txn = Txn::when(compares);
        for rewrite in &batch {
            txn = txn.then(TxnOp::put(
                rewrite.key.as_str(),
                rewrite.value.clone(),
                PutLease::Keep,
            ));
        }
        if self.store.backend().txn(txn).await?.succeeded {
            return Ok(batch.len() as u64);
        }
        let mut written = 0;
        for rewrite in batch {
            written += u64::from(self.write_one(rewrite).await?);
        }
        Ok(written)
    }

    /// Writes one rewrite; when the object changed since it was read, reads and converts it
    /// again. Whether it was written (not when it went or is in the storage version now).
    async fn write_one(&self, mut rewrite: Rewrite) -> Result<bool> {
        for _ in 0..self.store.max_update_attempts() {
            let txn = Txn::when([Compare::mod_revision(
                rewrite.key.as_str(),
                rewrite.revision,
            )])
            .then(TxnOp::put(
                rewrite.key.as_str(),
                rewrite.value.clone(),
                PutLease::Keep,
            ))
            .otherwise(TxnOp::get(rewrite.key.as_str()));
            let response = self.store.backend().txn(txn).await?;
            if response.succeeded {
                return Ok(true);
            }
            let Some(current) = response.read_value() else {
                return Ok(false);
            };
            match self.needs(&current)? {
                Needs::Rewrite(again) => rewrite = again,
                Needs::OtherKind | Needs::Current => return Ok(false),
            }
        }
        Err(Error::TooManyConflicts {
            key: rewrite.key,
            attempts: self.store.max_update_attempts(),
        })
    }
}

/// The first key after the one a continue token names, checked to be in `[first, end)`.
fn resume_key(token: &str, first: &str, end: &str) -> Result<String> {
    let invalid =
        || Error::InvalidArgument(format!("{token:?} is not a migration's continue token"));
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let last = String::from_utf8(bytes).map_err(|_| invalid())?;
    if last.as_str() < first || last.as_str() >= end {
        return Err(invalid());
    }
    Ok(format!("{last}\0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_resumes_after_its_key_within_the_directory() {
        let token = URL_SAFE_NO_PAD.encode("/widgets/b");
        assert_eq!(
            resume_key(&token, "/widgets/", "/widgets0").unwrap(),
            "/widgets/b\0"
        );
        for bad in [
            "not base64!".to_owned(),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
            URL_SAFE_NO_PAD.encode("/gadgets/b"),
            URL_SAFE_NO_PAD.encode("/widgets0"),
        ] {
            let err = resume_key(&bad, "/widgets/", "/widgets0").unwrap_err();
            assert!(err.is_invalid_argument(), "{bad}: {err}");
        }
    }
}
