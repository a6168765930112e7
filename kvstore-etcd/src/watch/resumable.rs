//! One etcd watch that survives broken streams: resumed from the last delivered revision + 1,
//! so no event is lost or repeated; a compacted resume point is `Gone`; a server that stays
//! away longer than the reconnect timeout is `Unavailable`, never an endless wait.
//!
//! No etcd stream is ever left unread: an etcd watch that nobody reads fills the HTTP/2
//! connection's flow-control window, and then nothing else on that connection moves (writes
//! and reads of the whole client time out). A watch of its own is drained by a task into a
//! bounded buffer; when its consumer falls that far behind, the task closes the etcd stream
//! and, once the consumer has read the buffer down, reopens it from the next revision — the
//! consumer loses nothing, and sees `Gone` only if that history was compacted meanwhile.

use std::collections::VecDeque;
use std::time::Duration;

use etcd_client::{EventType, GetOptions, WatchOptions};
use futures::stream::{self, StreamExt};
use kvstore_core::backend::{Event, EventStream, WatchItem, WatchRequest};
use kvstore_core::{Error, Result};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};

use crate::error::{self, Context};
use crate::keys::{etcd_revision, header_revision, Namespace};

/// What a watch needs to (re)open its stream.
#[derive(Clone)]
pub(crate) struct Target {
    pub client: etcd_client::Client,
    pub ns: Namespace,
    pub key: Vec<u8>,
    pub range_end: Option<Vec<u8>>,
    pub request_timeout: Duration,
    pub reconnect_timeout: Duration,
    /// Responses a watch of its own holds for its consumer before it closes its etcd stream.
    pub buffer: usize,
    /// Progress requests of the backend (see [`crate::progress`]).
    pub progress_requests: watch::Receiver<u64>,
}

impl Target {
    pub fn new(
        client: etcd_client::Client,
        ns: Namespace,
        request: &WatchRequest,
        request_timeout: Duration,
        reconnect_timeout: Duration,
        buffer: usize,
        progress_requests: watch::Receiver<u64>,
    ) -> Self {
        Target {
            progress_requests,
            buffer: buffer.max(1),
            key: ns.key(&request.key),
            range_end: request.range_end.as_deref().map(|end| ns.key(end)),
            client,
            ns,
            request_timeout,
            reconnect_timeout,
        }
    }

    /// Opens a stream from revision `start` (0: now) and waits until etcd confirms it, so
    /// no write after this returns can be missed. Returns the stream and the next revision.
    pub async fn open(&self, start: u64) -> Result<(Stream, u64)> {
        let context = Context {
            revision: start,
            ..Context::default()
        };
        let mut options = WatchOptions::new().with_prev_key().with_progress_notify();
        if let Some(end) = &self.range_end {
            options = options.with_range(end.clone());
        }
        if start > 0 {
            options = options.with_start_revision(etcd_revision(start)?);
        }
        let mut client = crate::clients::watch(&self.client);
        let opened = async {
            let mut stream = client.watch(self.key.clone(), Some(options)).await?;
            let first = stream.message().await?;
            Ok::<_, etcd_client::Error>((stream, first))
        };
        let (stream, first) = timeout(self.request_timeout, opened)
            .await
            .map_err(|_| error::timed_out("watch", self.request_timeout, Default::default()))?
            .map_err(|e| error::map(e, context))?;
        let first = first.ok_or_else(|| Error::Unavailable {
            message: "etcd closed the watch before confirming it".to_owned(),
            source: None,
        })?;
        if first.compact_revision() > 0 {
            return Err(gone(start, first.compact_revision()));
        }
        if first.canceled() {
            return Err(error::refused_watch(first.cancel_reason()));
        }
        if start > 1 {
            self.history_kept_before(start, context).await?;
        }
        let next = if start > 0 {
            start
        } else {
            header_revision(first.header()) + 1
        };
        Ok((stream.split(), next))
    }
}

impl Target {
    /// Whether the history just before `start` is still kept, else [`Error::Gone`]: etcd
    /// releases before 3.4.34 and 3.5.15 drop a deletion at the compaction revision itself
    /// (etcd issue 18089), so a watch starting exactly there would silently miss it, where the
    /// semantics say such a start point is compacted. Asked once the watch is confirmed: a
    /// compaction after this answer began after the watch was registered.
    async fn history_kept_before(&self, start: u64, context: Context) -> Result<()> {
        let at = GetOptions::new()
            .with_revision(etcd_revision(start - 1)?)
            .with_count_only();
        let mut kv = crate::clients::kv(&self.client);
        match timeout(self.request_timeout, kv.get(self.key.clone(), Some(at))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(error::map(e, context)),
            Err(_) => Err(error::timed_out("watch", self.request_timeout, context)),
        }
    }
}

/// An open etcd watch: where progress requests go, and where responses come from.
type Stream = (
    etcd_client::WatchRequestSender,
    etcd_client::WatchResponseStream,
);

fn gone(revision: u64, compacted: i64) -> Error {
    Error::Gone {
        revision,
        compacted: crate::keys::revision(compacted),
    }
}

/// Reads one etcd watch response after the other, reconnecting as needed.
pub(crate) struct Cursor {
    target: Target,
    stream: Option<Stream>,
    /// Progress requests to pass on to etcd; `None` once the backend is gone.
    requests: Option<watch::Receiver<u64>>,
    /// The next revision to deliver: everything before it is in `pending` or was taken.
    next: u64,
    /// Items read and not yet taken; the events of one revision always arrive together.
    pending: VecDeque<WatchItem>,
}

impl Cursor {
    /// Opens the watch from revision `start` (0: now), confirmed by etcd.
    pub async fn open(target: Target, start: u64) -> Result<Self> {
        let (stream, next) = target.open(start).await?;
        Ok(Cursor {
            requests: Some(target.progress_requests.clone()),
            target,
            stream: Some(stream),
            next,
            pending: VecDeque::new(),
        })
    }

    /// A cursor that connects on its first [`advance`](Self::advance), from revision `next`
    /// (retrying within the reconnect timeout).
    pub fn resume(target: Target, next: u64) -> Self {
        Cursor {
            requests: Some(target.progress_requests.clone()),
            target,
            stream: None,
            next,
            pending: VecDeque::new(),
        }
    }

    /// The next revision to deliver.
    pub fn next_revision(&self) -> u64 {
        self.next
    }

    /// Closes the etcd stream (the next `advance` reopens it from the next revision).
    fn pause(&mut self) {
        if self.stream.take().is_some() {
            tracing::debug!(next = self.next, "etcd watch paused for a slow consumer");
        }
    }

    /// Takes the items read so far, whole revisions only.
    pub fn take_pending(&mut self) -> impl Iterator<Item = WatchItem> + '_ {
        self.pending.drain(..)
    }

    /// Waits for one response (or one reconnection, or one progress request passed on to etcd)
    /// and absorbs it. An error ends the watch.
    pub async fn advance(&mut self) -> Result<()> {
        let Cursor {
            stream, requests, ..
        } = self;
        let Some((sender, responses)) = stream.as_mut() else {
            return self.reconnect().await;
        };
        let requested = async {
            match requests.as_mut() {
                Some(requests) => requests.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = responses.message() => match message {
                Ok(Some(response)) => self.absorb(response),
                Ok(None) | Err(_) => {
                    tracing::debug!(next = self.next, "etcd watch stream broke");
                    self.stream = None;
                    Ok(())
                }
            },
            requested = requested => {
                if !requested {
                    self.requests = None;
                } else if sender.request_progress().await.is_err() {
                    self.stream = None;
                }
                Ok(())
            }
        }
    }

    /// Handles one response; an error ends the watch.
    fn absorb(&mut self, response: etcd_client::WatchResponse) -> Result<()> {
        if response.compact_revision() > 0 {
            return Err(gone(self.next, response.compact_revision()));
        }
        if response.canceled() {
            // Canceled without compaction (e.g. the member lost its leader): reopen.
            tracing::debug!(reason = response.cancel_reason(), "etcd canceled the watch");
            self.stream = None;
            return Ok(());
        }
        let mut last = None;
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let kv = self.target.ns.key_value(kv)?;
            let prev_kv = event
                .prev_kv()
                .map(|p| self.target.ns.key_value(p))
                .transpose()?;
            if kv.mod_revision < self.next {
                continue; // already delivered before a reconnect
            }
            last = Some(kv.mod_revision);
            let event = match event.event_type() {
                EventType::Put => Event::put(kv, prev_kv),
                // Without its previous value (compacted meanwhile) the typed layer reports it.
                EventType::Delete => Event {
                    kind: kvstore_core::EventType::Deleted,
                    kv,
                    prev_kv,
                },
            };
            self.pending.push_back(WatchItem::Event(event));
        }
        match last {
            Some(revision) => self.next = revision + 1,
            None if !response.created() => {
                // A progress notification: everything up to the header revision was sent.
                let revision = header_revision(response.header());
                if revision + 1 >= self.next {
                    self.next = revision + 1;
                    self.pending.push_back(WatchItem::Progress(revision));
                }
            }
            None => {}
        }
        Ok(())
    }

    async fn reconnect(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.target.reconnect_timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.target.open(self.next).await {
                Ok((stream, _)) => {
                    tracing::debug!(next = self.next, "etcd watch resumed");
                    self.stream = Some(stream);
                    return Ok(());
                }
                Err(err) if err.is_gone() => return Err(err),
                Err(err) if Instant::now() + pause >= deadline => {
                    return Err(Error::Unavailable {
                        message: format!(
                            "etcd watch could not resume within {:?}: {err}",
                            self.target.reconnect_timeout
                        ),
                        source: Some(Box::new(err)),
                    })
                }
                Err(err) => {
                    tracing::debug!(%err, "etcd watch reconnect failed, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// The batches a drained watch hands its consumer: the items of one response, or the error
/// that ends the watch.
type Batch = Result<Vec<WatchItem>>;

/// Reads `cursor` into `batches` until the consumer goes or the watch fails, never leaving the
/// etcd stream unread: with the buffer full it closes the stream, waits for room, and reopens.
async fn drain(mut cursor: Cursor, batches: mpsc::Sender<Batch>) {
    loop {
        let permit = match batches.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                cursor.pause();
                match batches.reserve().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                }
            }
            Err(mpsc::error::TrySendError::Closed(())) => return,
        };
        let step = tokio::select! {
            step = cursor.advance() => step,
            () = batches.closed() => return,
        };
        match step {
            Ok(()) => {
                let items: Vec<WatchItem> = cursor.take_pending().collect();
                if !items.is_empty() {
                    permit.send(Ok(items));
                }
            }
            Err(err) => {
                permit.send(Err(err));
                return;
            }
        }
    }
}

/// A watch of one consumer, drained in the background: its events one by one, ending after
/// an error.
struct Drained {
    batches: mpsc::Receiver<Batch>,
    current: std::vec::IntoIter<WatchItem>,
}

impl Drained {
    async fn next_item(mut self) -> Option<(Result<WatchItem>, Self)> {
        loop {
            if let Some(item) = self.current.next() {
                return Some((Ok(item), self));
            }
            match self.batches.recv().await? {
                Ok(items) => self.current = items.into_iter(),
                Err(err) => return Some((Err(err), self)),
            }
        }
    }
}

/// Opens a resumable watch of its own from revision `start` (0: now).
pub(crate) async fn open(target: Target, start: u64) -> Result<EventStream> {
    Ok(stream(Cursor::open(target, start).await?))
}

/// The items of `cursor`, one by one, ending after an error; the etcd stream is drained in
/// the background (see the module docs).
pub(crate) fn stream(mut cursor: Cursor) -> EventStream {
    let (tx, batches) = mpsc::channel(cursor.target.buffer);
    // Items the cursor already holds go first.
    let held: Vec<WatchItem> = cursor.take_pending().collect();
    tokio::spawn(drain(cursor, tx));
    let drained = Drained {
        batches,
        current: held.into_iter(),
    };
    stream::unfold(drained, Drained::next_item).boxed()
}
