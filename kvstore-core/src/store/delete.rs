//! Delete: one object with preconditions, or a whole directory.

use tracing::instrument;

use super::options::Preconditions;
use super::update::failure_get;
use super::{parse_resource_version, set_resource_version, Store};
use crate::backend::{Compare, Txn, TxnOp, TxnOpResult};
use crate::codec::{Codec, Encode};
use crate::error::{Error, Result};
use crate::key::{directory_range, validate_key};
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
        C: Encode<K>,
    {
        let expected_revision = preconditions
            .resource_version
            .as_deref()
            .map(parse_resource_version)
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
            let version_differs = expected_revision.is_some_and(|rv| rv != current.mod_revision);
            if uid_differs || version_differs {
                return Err(Error::conflict(key, current.mod_revision));
            }
            let response = self
                .inner
                .backend
                .txn(Txn {
                    compare: vec![Compare::mod_revision(key, current.mod_revision)],
                    success: vec![TxnOp::Delete {
                        key: key.to_owned(),
                    }],
                    failure: vec![TxnOp::Get {
                        key: key.to_owned(),
                    }],
                })
                .await?;
            if response.succeeded {
                set_resource_version(&mut object, response.revision);
                return Ok(object);
            }
            current = failure_get(response).ok_or_else(|| Error::not_found(key))?;
        }
        Err(Error::TooManyConflicts {
            key: key.to_owned(),
            attempts: self.inner.max_update_attempts,
        })
    }

    /// Deletes `key` if it is still at `revision`: one round trip.
    async fn delete_at<K: Object>(&self, key: &str, revision: u64) -> Result<K>
    where
        C: Encode<K>,
    {
        validate_key(key)?;
        let response = self
            .inner
            .backend
            .txn(Txn {
                compare: vec![Compare::mod_revision(key, revision)],
                success: vec![TxnOp::Delete {
                    key: key.to_owned(),
                }],
                failure: vec![TxnOp::Get {
                    key: key.to_owned(),
                }],
            })
            .await?;
        if !response.succeeded {
            return Err(match failure_get(response) {
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
        validate_key(prefix)?;
        let (key, range_end) = directory_range(prefix);
        let response = self
            .inner
            .backend
            .txn(Txn {
                compare: vec![],
                success: vec![TxnOp::DeleteRange { key, range_end }],
                failure: vec![],
            })
            .await?;
        Ok(response
            .results
            .iter()
            .map(|r| match r {
                TxnOpResult::Delete(deleted) => deleted.len(),
                _ => 0,
            })
            .sum())
    }
}
