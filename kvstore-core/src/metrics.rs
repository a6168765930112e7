//! What the store reports through the [`metrics`](https://docs.rs/metrics) facade: a service
//! installs the exporter it likes (Prometheus, StatsD...) and gets these, named and labelled
//! in the Prometheus conventions and in the spirit of the Kubernetes apiserver's storage
//! metrics. Without an installed recorder they cost next to nothing.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `kvstore_request_duration_seconds` | histogram | `operation`, `kind`, `result` | how long each store call took |
//! | `kvstore_requests_total` | counter | `operation`, `kind`, `result` | store calls made |
//! | `kvstore_watch_streams` | gauge | `kind` | typed watch streams open |
//! | `kvstore_watch_lag_revisions` | histogram | `kind` | for each change a typed watch receives, how many revisions it is behind the newest the store has seen (in any answer: its reads, writes and watches) |
//! | `kvstore_cache_objects` | gauge | `kind` | objects held by the watch caches of a kind |
//! | `kvstore_cache_relists_total` | counter | `kind` | lists a cache made again after its first (history compacted under its watch) |
//! | `kvstore_guaranteed_update_conflicts_total` | counter | `kind` | conflicts a guaranteed update met and retried from the fresh value |
//! | `kvstore_lease_renewals_missed_total` | counter | — | lease renewals of a session that failed (the session keeps trying until the lease is lost) |
//!
//! Each thread keeps the handles of the request series it recorded, for the recorder in effect
//! (the global one, or a thread's local one, told apart by address); a local recorder dropped
//! and another made at the same address would receive nothing from that thread.
//!
//! `operation` is `get`, `create`, `update`, `guaranteed_update`, `delete`, `list`, `watch` or
//! `txn` (whose `kind` is `-`: a transaction may write several kinds); `result` is `ok` or the
//! error's name ([`error_name`]): `not_found`, `already_exists`, `conflict`, `gone`,
//! `unavailable`, `ambiguous`, `kind_mismatch`, `codec`, `invalid`, `refused`, `other`.

use std::cell::RefCell;
use std::future::Future;
use std::time::Instant;

use crate::error::{Error, Result};

/// `kvstore_request_duration_seconds`: how long each store call took.
pub const REQUEST_DURATION: &str = "kvstore_request_duration_seconds";
/// `kvstore_requests_total`: store calls made.
pub const REQUESTS: &str = "kvstore_requests_total";
/// `kvstore_watch_streams`: typed watch streams open.
pub const WATCH_STREAMS: &str = "kvstore_watch_streams";
/// `kvstore_watch_lag_revisions`: how far behind the store's newest revision each watched
/// change was delivered.
pub const WATCH_LAG: &str = "kvstore_watch_lag_revisions";
/// `kvstore_cache_objects`: objects held by the watch caches of a kind.
pub const CACHE_OBJECTS: &str = "kvstore_cache_objects";
/// `kvstore_cache_relists_total`: lists a cache made again after its first.
pub const CACHE_RELISTS: &str = "kvstore_cache_relists_total";
/// `kvstore_guaranteed_update_conflicts_total`: conflicts guaranteed updates retried.
pub const UPDATE_CONFLICTS: &str = "kvstore_guaranteed_update_conflicts_total";
/// `kvstore_lease_renewals_missed_total`: lease renewals of sessions that failed.
pub const LEASE_RENEWALS_MISSED: &str = "kvstore_lease_renewals_missed_total";

/// The `result` label of a failed call: what happened, in a few words.
pub fn error_name(error: &Error) -> &'static str {
    match error {
        Error::NotFound { .. } => "not_found",
        Error::AlreadyExists { .. } => "already_exists",
        Error::Conflict { .. } | Error::TooManyConflicts { .. } => "conflict",
        Error::Gone { .. } => "gone",
        Error::Unavailable { .. } | Error::Closed { .. } | Error::NotLeader { .. } => "unavailable",
        Error::Ambiguous { .. } => "ambiguous",
        Error::KindMismatch { .. } => "kind_mismatch",
        Error::Codec { .. }
        | Error::UnknownKind { .. }
        | Error::UnknownVersion { .. }
        | Error::Conversion { .. }
        | Error::LossyConversion { .. } => "codec",
        Error::InvalidKey { .. }
        | Error::InvalidArgument(_)
        | Error::ValueTooLarge { .. }
        | Error::InvalidConfig { .. } => "invalid",
        Error::PermissionDenied { .. } | Error::Unauthenticated { .. } | Error::Tls { .. } => {
            "refused"
        }
        _ => "other",
    }
}

/// Runs one store call, recording its duration and result.
pub(crate) async fn measured<T>(
    operation: &'static str,
    kind: &'static str,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    let started = Instant::now();
    let result = call.await;
    let elapsed = started.elapsed();
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error_name(error),
    };
    with_handles((operation, kind, outcome), |handles| {
        handles.duration.record(elapsed);
        handles.count.increment(1);
    });
    result
}

/// The handles of one request series, registered once per recorder and thread: looking a
/// series up by its name and labels at every call costs more than the call's own work on the
/// memory store.
struct Handles {
    duration: metrics::Histogram,
    count: metrics::Counter,
}

/// A request series: operation, kind, result.
type Series = (&'static str, &'static str, &'static str);

/// The handles of this thread's series for one recorder (its address), found by the
/// addresses of their static labels: a few dozen at most, scanned faster than hashed.
#[derive(Default)]
struct Cached {
    recorder: usize,
    series: Vec<([usize; 3], Handles)>,
}

thread_local! {
    static HANDLES: RefCell<Cached> = RefCell::default();
}

fn with_handles(series: Series, record: impl FnOnce(&Handles)) {
    let recorder = metrics::with_recorder(|recorder| {
        (recorder as *const dyn metrics::Recorder).cast::<()>() as usize
    });
    let (operation, kind, result) = series;
    let id = [
        operation.as_ptr() as usize,
        kind.as_ptr() as usize,
        result.as_ptr() as usize,
    ];
    HANDLES.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.recorder != recorder {
            *cached = Cached {
                recorder,
                series: Vec::new(),
            };
        }
        let at = match cached.series.iter().position(|(known, _)| *known == id) {
            Some(at) => at,
            None => {
                let labels = [("operation", operation), ("kind", kind), ("result", result)];
                let handles = Handles {
                    duration: metrics::histogram!(REQUEST_DURATION, &labels),
                    count: metrics::counter!(REQUESTS, &labels),
                };
                cached.series.push((id, handles));
                cached.series.len() - 1
            }
        };
        record(&cached.series[at].1);
    });
}

/// Counts an open watch stream of `kind` while it lives, and records its lag.
pub(crate) struct OpenStream {
    kind: &'static str,
    lag: metrics::Histogram,
}

impl OpenStream {
    pub(crate) fn new(kind: &'static str) -> Self {
        metrics::gauge!(WATCH_STREAMS, "kind" => kind).increment(1.0);
        OpenStream {
            kind,
            lag: metrics::histogram!(WATCH_LAG, "kind" => kind),
        }
    }

    /// A change delivered `behind` revisions behind the newest the store has seen.
    pub(crate) fn delivered(&self, behind: u64) {
        self.lag.record(behind as f64);
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(WATCH_STREAMS, "kind" => self.kind).decrement(1.0);
    }
}
