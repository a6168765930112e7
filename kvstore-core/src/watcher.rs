//! [`Watcher`]: a self-healing list-then-watch stream of one kind under a prefix.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::field_selector::FieldSelector;
use crate::key::validate_key;
use crate::object::Object;
use crate::selector::LabelSelector;
use crate::store::{ListOptions, Selection, Store, WatchEvent};

/// What a [`Watcher`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum WatcherEvent<K> {
    /// A (re-)list begins: the [`WatcherEvent::InitApply`] objects up to
    /// [`WatcherEvent::InitDone`] are the whole state and replace what came before.
    Init,
    /// An object of the listed state.
    InitApply {
        /// Its key.
        key: String,
        /// The object, with its resource version.
        object: K,
    },
    /// The listed state is complete, at this resource version; changes follow.
    InitDone {
        /// The list's resource version.
        resource_version: String,
    },
    /// An object was created or updated.
    Applied {
        /// Its key.
        key: String,
        /// The object as written, with its resource version.
        object: K,
    },
    /// An object was deleted.
    Deleted {
        /// Its key.
        key: String,
        /// The object as it was, with the resource version of the delete.
        object: K,
    },
    /// Every change up to this resource version has been delivered (nothing under the prefix
    /// may have changed): the watcher now resumes from here.
    Bookmark {
        /// The revision the watcher has got to.
        resource_version: String,
    },
}

/// How a [`Watcher`] lists and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherConfig {
    /// Objects per list page.
    pub page_size: usize,
    /// First pause after a failure; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest pause between retries.
    pub max_backoff: Duration,
    /// Only objects whose labels match; an object that stops matching is reported deleted.
    pub label_selector: Option<LabelSelector>,
    /// Only objects whose fields match; an object that stops matching is reported deleted.
    pub field_selector: Option<FieldSelector>,
    /// After this long without a change, ask the store for a bookmark, so that a quiet or
    /// filtered watcher's resume point stays within the retained history (etcd also sends
    /// bookmarks of its own, every ten minutes by default). `None`: never ask.
    pub bookmark_interval: Option<Duration>,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        WatcherConfig {
            page_size: 500,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            label_selector: None,
            field_selector: None,
            bookmark_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// Where the watcher is.
enum Phase<K> {
    /// About to (re-)list from scratch.
    Relist,
    /// Listing; the token of the next page.
    Paging(Option<String>),
    /// About to watch after this revision.
    Resume(u64),
    /// Watching; the revision of the last change delivered.
    Watching(BoxStream<'static, Result<(String, WatchEvent<K>)>>, u64),
}

struct State<C, K> {
    store: Store<C>,
    prefix: String,
    config: WatcherConfig,
    phase: Phase<K>,
    ready: VecDeque<Result<WatcherEvent<K>>>,
    backoff: Backoff,
    /// A pause to take before the next store call.
    pause: Option<Duration>,
}

/// A list-then-watch stream of the objects of kind `K` under a prefix.
///
/// It lists the prefix page by page (one snapshot), then watches from the list's revision.
/// When the watch breaks it resumes from the last revision it delivered, after a backoff; when
/// that history was compacted ([`Error::Gone`]) it lists again and says so with
/// [`WatcherEvent::Init`], so a consumer can rebuild its state atomically. Every change is
/// delivered once, in order; a re-list replaces whatever changes it stands for. Errors are
/// reported as items and the stream goes on (with backoff); it ends only after reporting
/// [`Error::Closed`] when the store is closed.
pub struct Watcher<K> {
    events: BoxStream<'static, Result<WatcherEvent<K>>>,
}

impl<K> std::fmt::Debug for Watcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl<K: Object> Watcher<K> {
    /// A watcher of the objects of kind `K` under `prefix` of `store`; an invalid prefix is an
    /// [`Error::InvalidKey`].
    pub fn new<C: CodecFor<K>>(
        store: &Store<C>,
        prefix: &str,
        config: WatcherConfig,
    ) -> Result<Self> {
        validate_key(prefix)?;
        let span = tracing::debug_span!("watcher", prefix, kind = K::KIND);
        let backoff = Backoff::new(config.initial_backoff, config.max_backoff);
        let state = State {
            store: store.clone(),
            prefix: prefix.to_owned(),
            config,
            phase: Phase::Relist,
            ready: VecDeque::new(),
            backoff,
            pause: None,
        };
        // The stream ends after reporting that the store was closed.
        let events = futures::stream::unfold(Some(state), move |state| {
            let span = span.clone();
            async move {
                let mut state = state?;
                let event = state.next_event().await;
                let closed = matches!(&event, Err(err) if err.is_closed());
                Some((event, (!closed).then_some(state)))
            }
            .instrument(span)
        });
        Ok(Watcher {
            events: events.boxed(),
        })
    }
}

impl<K> Stream for Watcher<K> {
    type Item = Result<WatcherEvent<K>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_next_unpin(cx)
    }
}

impl<C: CodecFor<K>, K: Object> State<C, K> {
    async fn next_event(&mut self) -> Result<WatcherEvent<K>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return event;
            }
            if let Some(pause) = self.pause.take() {
                tokio::time::sleep(pause).await;
            }
            self.advance().await;
        }
    }

    /// One store call; queues what it yields.
    async fn advance(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Relist) {
            Phase::Relist => {
                self.ready.push_back(Ok(WatcherEvent::Init));
                self.phase = Phase::Paging(None);
            }
            Phase::Paging(token) => self.list_page(token).await,
            Phase::Resume(revision) => {
                match self
                    .store
                    .watch_prefix_keyed::<K>(&self.prefix, revision, self.selection())
                    .await
                {
                    Ok(changes) => self.phase = Phase::Watching(changes, revision),
                    Err(err) if err.is_gone() => self.relist(err),
                    Err(err) => {
                        self.phase = Phase::Resume(revision);
                        self.fail(err);
                    }
                }
            }
            Phase::Watching(mut changes, revision) => {
                let next = match self.config.bookmark_interval {
                    None => changes.next().await,
                    Some(interval) => match tokio::time::timeout(interval, changes.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            request_bookmark(self.store.clone(), &self.prefix).await;
                            self.phase = Phase::Watching(changes, revision);
                            return;
                        }
                    },
                };
                self.watched(next, changes, revision);
            }
        }
    }

    /// Handles what the watch delivered next.
    fn watched(
        &mut self,
        next: Option<Result<(String, WatchEvent<K>)>>,
        changes: BoxStream<'static, Result<(String, WatchEvent<K>)>>,
        revision: u64,
    ) {
        match next {
            Some(Ok((key, change))) => {
                self.backoff.reset();
                let (revision, event) = match change {
                    WatchEvent::Created(object) | WatchEvent::Updated(object) => (
                        revision_of(&object, revision),
                        WatcherEvent::Applied { key, object },
                    ),
                    WatchEvent::Deleted(object) => (
                        revision_of(&object, revision),
                        WatcherEvent::Deleted { key, object },
                    ),
                    WatchEvent::Bookmark { resource_version } => {
                        match resource_version.parse::<u64>() {
                            Ok(at) if at > revision => {
                                (at, WatcherEvent::Bookmark { resource_version })
                            }
                            // Nothing new.
                            _ => {
                                self.phase = Phase::Watching(changes, revision);
                                return;
                            }
                        }
                    }
                    // Only asked-for initial states end with it; none is asked for here.
                    WatchEvent::InitialStateDone { .. } => {
                        self.phase = Phase::Watching(changes, revision);
                        return;
                    }
                };
                self.ready.push_back(Ok(event));
                self.phase = Phase::Watching(changes, revision);
            }
            // An undecodable value: reported, and the watch goes on.
            Some(Err(err)) if err.is_codec() || matches!(err, Error::KindMismatch { .. }) => {
                self.ready.push_back(Err(err));
                self.phase = Phase::Watching(changes, revision);
            }
            Some(Err(err)) if err.is_gone() => self.relist(err),
            Some(Err(err)) => {
                self.phase = Phase::Resume(revision);
                self.fail(err);
            }
            None => self.phase = Phase::Resume(revision),
        }
    }

    async fn list_page(&mut self, token: Option<String>) {
        let options = ListOptions {
            limit: Some(self.config.page_size.max(1)),
            continue_token: token.clone(),
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
        };
        match self.store.list_keyed::<K>(&self.prefix, &options).await {
            Ok(page) => {
                self.backoff.reset();
                for (key, object) in page.items {
                    self.ready
                        .push_back(Ok(WatcherEvent::InitApply { key, object }));
                }
                match page.metadata.continue_token {
                    Some(next) => self.phase = Phase::Paging(Some(next)),
                    None => {
                        let resource_version = page.metadata.resource_version;
                        match resource_version.parse() {
                            Ok(revision) => self.phase = Phase::Resume(revision),
                            Err(_) => {
                                self.phase = Phase::Relist;
                                self.fail(Error::Backend {
                                    message: format!(
                                        "list of {} returned resource version {resource_version:?}",
                                        self.prefix
                                    ),
                                    source: None,
                                });
                                return;
                            }
                        }
                        self.ready
                            .push_back(Ok(WatcherEvent::InitDone { resource_version }));
                    }
                }
            }
            // The snapshot the pages are read at was compacted: start over.
            Err(err) if err.is_gone() => self.relist(err),
            Err(err) => {
                self.phase = Phase::Paging(token);
                self.fail(err);
            }
        }
    }

    fn selection(&self) -> Selection {
        Selection::new(
            self.config.label_selector.as_ref(),
            self.config.field_selector.as_ref(),
        )
    }

    /// History was compacted: list again.
    fn relist(&mut self, err: Error) {
        tracing::info!(%err, prefix = %self.prefix, "watch history compacted, listing again");
        self.phase = Phase::Relist;
    }

    /// Reports a failed call and pauses before the next.
    fn fail(&mut self, err: Error) {
        let pause = self.backoff.next_pause();
        tracing::debug!(%err, ?pause, prefix = %self.prefix, "watcher call failed, retrying");
        self.ready.push_back(Err(err));
        self.pause = Some(pause);
    }
}

/// Asks the store for a bookmark of every watch; a store that cannot give one is left to send
/// its own.
async fn request_bookmark<C: Codec>(store: Store<C>, prefix: &str) {
    match store.request_bookmarks().await {
        Ok(()) => {}
        Err(err) if err.is_unsupported() => {}
        Err(err) => tracing::debug!(%err, prefix, "bookmark request failed"),
    }
}

/// The numeric resource version of a delivered object (`fallback` if it has none).
fn revision_of<K: Object>(object: &K, fallback: u64) -> u64 {
    object
        .metadata()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(fallback)
}
