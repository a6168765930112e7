//! Reading many record znodes at once: every request is sent when [`records`] is called (in
//! order, on the one session), so requests sent after it are answered after them.

use std::future::Future;

use futures::future::try_join_all;
use kvstore_core::{Error, Result};
use serde::Deserialize;
use zookeeper_client as zk;

use crate::inner::Inner;
use crate::records::decode;

/// Sends a read of each znode of `paths` now; the future gives each record, or `None` where the
/// znode does not exist. `what` names the reads in errors.
pub(crate) fn records<'a, T: for<'de> Deserialize<'de> + 'a>(
    inner: &'a Inner,
    client: &zk::Client,
    paths: impl IntoIterator<Item = String>,
    what: &'a str,
) -> impl Future<Output = Result<Vec<Option<T>>>> + 'a {
    let reads: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let request = client.get_data(&path);
            async move {
                match inner.conn.call_maybe(what, request).await? {
                    Some((data, _)) => Ok::<_, Error>(Some(decode::<T>(&path, &data)?)),
                    None => Ok(None),
                }
            }
        })
        .collect();
    try_join_all(reads)
}
