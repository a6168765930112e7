//! Delete: one object with preconditions, or a whole directory.

use tracing::instrument;

use super::options::Preconditions;
use super::{set_resource_version, stored_revision, Store};
use crate::backend::{Compare, Txn, TxnOp, TxnOpResult};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::object::Object;

impl<C: Codec> Store<C> {
    /// Deletes the object at `key` and returns it, its resource version set to the *delete*
    /// revision. [`Error::NotFound`] if missing; a failed precondition gives
    /// [`Error::Conflict`].
    ///
    /// Without a resource-version precondition the value is read and checked to be a `K`
    /// before it is deleted, and the delete is conditional on it being unchanged: a value of
    /// another kind, or one that does not decode, is reported and left in place (two round
    /// trips). With a resource-version precondition (and no uid) the delete is one round trip:
    /// the version names the exact value the caller read, so it is deleted if still current.
    #[instrument(level = "debug", skip(self), fields(kind = K::KIND))]
    pub async fn delete<K: Object>(&self, key: &str, preconditions: &Preconditions) -> Result<K>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("delete", K::KIND, async {
            let expected_revision = preconditions
                .resource_version
                .map(stored_revision)
                .transpose()?;
            if let (Some(revision), None) = (expected_revision, preconditions.uid) {
                return self.delete_at(key, revision).await;
            }
            let mut current = self.get_raw(key).await?;
            for _ in 0..self.inner.max_update_attempts {
                let mut object: K = self.decode(&current)?;
                let uid_differs = preconditions
                    .uid
                    .is_some_and(|uid| object.metadata().uid != Some(uid));
                let version_differs =
                    expected_revision.is_some_and(|rv| rv != current.mod_revision);
                if uid_differs || version_differs {
                    return Err(Error::conflict(key, current.mod_revision));
                }
                let response = self
                    .inner
                    .backend
                    .txn(delete_if_at(key, current.mod_revision))
                    .await?;
                if response.succeeded {
                    set_resource_version(&mut object, response.revision);
                    return Ok(object);
                }
                current = response.read_value().ok_or_else(|| Error::not_found(key))?;
            }
            Err(Error::TooManyConflicts {
                key: key.to_owned(),
                attempts: self.inner.max_update_attempts,
            })
        })
        .await
    }

    /// Deletes `key` if it is still at `revision`: one round trip.
    async fn delete_at<K: Object>(&self, key: &str, revision: u64) -> Result<K>
    where
        C: CodecFor<K>,
    {
        validate_key(key)?;
        let response = self.inner.backend.txn(delete_if_at(key, revision)).await?;
        if !response.succeeded {
            return Err(match response.read_value() {
                Some(current) => Error::conflict(key, current.mod_revision),
                None => Error::not_found(key),
            });
        }
        let deleted_at = response.revision;
        let previous = response
            .results
            .into_iter()
            .find_map(|r| match r {
                TxnOpResult::Delete(mut kvs) => kvs.pop(),
                _ => None,
            })
            .ok_or_else(|| Error::Backend {
                message: format!("the delete of {key} returned no previous value"),
                source: None,
            })?;
        let mut object: K = self.decode(&previous)?;
        set_resource_version(&mut object, deleted_at);
        Ok(object)
    }

    /// Deletes every key under the directory `prefix` (`/abc` deletes `/abc/...`, never
    /// `/abcd`), whatever their kind, in one transaction. Returns how many were deleted.
    #[instrument(level = "debug", skip(self))]
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        crate::metrics::measured("delete", "-", async {
            validate_key(prefix)?;
            let txn = Txn::default().then(TxnOp::delete_directory(prefix));
            let response = self.inner.backend.txn(txn).await?;
            Ok(response.deleted_count())
        })
        .await
    }
}

/// Deletes `key` if it is still at `revision`, reading it otherwise.
fn delete_if_at(key: &str, revision: u64) -> Txn {
    Txn::when([Compare::mod_revision(key, revision)])
        .then(TxnOp::delete(key))
        .otherwise(TxnOp::get(key))
}
