//! [`contenders`]: who stands in a lock's or an election's queue, read once (for operators'
//! tools: `kvstore locks`, `kvstore elections`).

use super::queue;
use crate::codec::Codec;
use crate::error::Result;
use crate::key::validate_key;
use crate::lease::LeaseId;
use crate::store::Store;

/// One entry of a lock's or an election's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Contender {
    /// The entry's key: `<prefix>/<lease id in hex>`.
    pub key: String,
    /// The contender's id in an election; empty in a lock.
    pub id: String,
    /// Its place in the queue, and the fencing token it holds or will hold: the entry's create
    /// revision.
    pub fencing_token: u64,
    /// The lease the entry lives on.
    pub lease: Option<LeaseId>,
}

/// The queue of the lock or election at `prefix`, read at one revision, oldest first: the
/// first entry holds the lock or leads the election, the others wait in this order.
///
/// ```
/// # async fn demo<C: kvstore_core::Codec>(store: kvstore_core::Store<C>) -> kvstore_core::Result<()> {
/// use kvstore_core::coordination::{contenders, Lock};
/// let lock = Lock::new(&store, "/locks/reindex", std::time::Duration::from_secs(10))?;
/// let guard = lock.acquire().await?;
/// let queue = contenders(&store, "/locks/reindex").await?;
/// assert_eq!(queue[0].fencing_token, guard.fencing_token());
/// # Ok(()) }
/// ```
pub async fn contenders<C: Codec>(store: &Store<C>, prefix: &str) -> Result<Vec<Contender>> {
    validate_key(prefix)?;
    let (members, _) = queue::members(store.backend(), prefix).await?;
    Ok(members
        .into_iter()
        .map(|kv| Contender {
            id: String::from_utf8_lossy(&kv.value).into_owned(),
            fencing_token: kv.create_revision,
            lease: kv.lease,
            key: kv.key,
        })
        .collect())
}
