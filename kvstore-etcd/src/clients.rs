//! The gRPC clients of an etcd connection, accepting responses as large as etcd's Go client
//! does.

use etcd_client::{Client, KvClient, WatchClient};

/// The largest response accepted: the default of etcd's Go client (`math.MaxInt32`). tonic's
/// own default of 4 MiB refuses what etcd rightly sends: the previous values of a directory
/// deleted at once, a watch response holding one revision's changes, an unpaginated read.
pub(crate) const MAX_RESPONSE: usize = i32::MAX as usize;

/// A client of the KV service.
pub(crate) fn kv(client: &Client) -> KvClient {
    client.kv_client().max_decoding_message_size(MAX_RESPONSE)
}

/// A client of the watch service.
pub(crate) fn watch(client: &Client) -> WatchClient {
    client
        .watch_client()
        .max_decoding_message_size(MAX_RESPONSE)
}
