//! Reading many znodes at once: every request is sent when [`records`] or [`together`] is
//! called (in order, on the one session), so requests sent after it are answered after them.

use std::future::Future;

use futures::future::try_join_all;
use kvstore_core::{Error, Result};
use serde::Deserialize;
use zookeeper_client as zk;

use crate::error::map_error;
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

/// At most this many keys' records are read in one `multiRead` ([`together`]): their records
/// (values up to 4 KiB inline) keep the answer far below the 1 MiB a ZooKeeper message may
/// carry.
pub(crate) const KEYS_TOGETHER: usize = 64;

/// Sends one `multiRead` of the znodes of `paths` now (one request, answered from one state of
/// the server); the future gives each znode's data, or `None` where it does not exist. `what`
/// names the read in errors. The answer must stay under ZooKeeper's `jute.maxbuffer` (1 MiB):
/// callers read a bounded number of small znodes this way.
pub(crate) fn together<'a>(
    inner: &'a Inner,
    client: &'a zk::Client,
    paths: &[String],
    what: &'a str,
) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + 'a {
    let mut reader = client.new_multi_reader();
    let built = paths
        .iter()
        .try_for_each(|path| reader.add_get_data(path))
        .map_err(|err| map_error(what, err));
    let sent = built.map(|()| reader.commit());
    let asked = paths.len();
    async move {
        let answers = inner.conn.call(what, sent?).await?;
        if answers.len() != asked {
            let wrong = format!("{} answers to {asked} reads", answers.len());
            return Err(map_error(what, zk::Error::UnexpectedError(wrong)));
        }
        answers
            .into_iter()
            .map(|answer| match answer {
                zk::MultiReadResult::Data { data, .. } => Ok(Some(data)),
                zk::MultiReadResult::Error {
                    err: zk::Error::NoNode,
                } => Ok(None),
                zk::MultiReadResult::Error { err } => Err(map_error(what, err)),
                // A child listing is never asked for here.
                _ => Err(map_error(
                    what,
                    zk::Error::UnexpectedError("a listing among data reads".into()),
                )),
            })
            .collect()
    }
}
