//! [`Watcher`]: a self-healing list-then-watch stream of one kind under a prefix.

mod origin;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tracing::Instrument;

pub(crate) use self::origin::{DirectRead, Origin};
use crate::backoff::Backoff;
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::event_type::EventType;
use crate::key::validate_key;
use crate::object::Object;
use crate::resource_version::ResourceVersion;
use crate::store::{
    Collection, KeyedEvent, KeyedWatchStream, ListOptions, Selection, Store, WatchEvent,
};

/// What a [`Watcher`] reports, in the words of [`WatchEvent`] (and [`EventType`]), each with
/// the object's key.
#[derive(Debug, Clone, PartialEq)]
pub enum WatcherEvent<K> {
    /// A (re-)list begins: the [`WatcherEvent::Added`] objects up to
    /// [`WatcherEvent::InitialStateDone`] are the whole state and replace what came before.
    InitialState,
    /// An object was created, or began to be selected, or (after
    /// [`WatcherEvent::InitialState`]) is part of the listed state.
    Added {
        /// Its key.
        key: String,
        /// The object, with its resource version.
        object: K,
    },
    /// An object was written again.
    Modified {
        /// Its key.
        key: String,
        /// The object as written, with its resource version.
        object: K,
    },
    /// An object was deleted, or stopped being selected.
    Deleted {
        /// Its key.
        key: String,
        /// The object as it was, with the resource version of the delete.
        object: K,
    },
    /// The listed state is complete, at this resource version; changes follow.
    InitialStateDone(ResourceVersion),
    /// Every change up to this resource version has been delivered (nothing under the prefix
    /// may have changed): the watcher now resumes from here.
    Bookmark(ResourceVersion),
}

impl<K> WatcherEvent<K> {
    /// What happened to the object (`None` for the markers and bookmarks).
    pub fn event_type(&self) -> Option<EventType> {
        match self {
            WatcherEvent::Added { .. } => Some(EventType::Added),
            WatcherEvent::Modified { .. } => Some(EventType::Modified),
            WatcherEvent::Deleted { .. } => Some(EventType::Deleted),
            _ => None,
        }
    }

    /// The key and object the event is about (`None` for the markers and bookmarks).
    pub fn object(&self) -> Option<(&str, &K)> {
        match self {
            WatcherEvent::Added { key, object }
            | WatcherEvent::Modified { key, object }
            | WatcherEvent::Deleted { key, object } => Some((key, object)),
            _ => None,
        }
    }
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
    /// Which objects to watch; an object that stops matching is reported deleted.
    pub selection: Selection,
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
            selection: Selection::default(),
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
    Resume(ResourceVersion),
    /// Watching; the revision of the last change delivered.
    Watching(KeyedWatchStream<K>, ResourceVersion),
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
/// [`WatcherEvent::InitialState`], so a consumer can rebuild its state atomically. Every change is
/// delivered once, in order; a re-list replaces whatever changes it stands for. Errors are
/// reported as items and the stream goes on (with backoff); it ends only after reporting
/// [`Error::Closed`] when the store is closed.
///
/// A watcher is a `Stream`, and composes: [`Watcher::shape`] gives its events any shape (filter,
/// inspect, tee them to a controller) while it stays a watcher, and a
/// [`Cache`](crate::Cache) can be fed from it ([`Cache::from_watcher`](crate::Cache::from_watcher)).
pub struct Watcher<K> {
    events: BoxStream<'static, Result<WatcherEvent<K>>>,
    origin: Arc<Origin<K>>,
}

impl<K> std::fmt::Debug for Watcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("prefix", &self.origin.prefix)
            .finish_non_exhaustive()
    }
}

impl<K: Object> Watcher<K> {
    /// A watcher of the objects of kind `K` under `prefix` of `store`; an invalid prefix is an
    /// [`Error::InvalidKey`]. Events name each object by its key.
    pub fn new<C: CodecFor<K>>(
        store: &Store<C>,
        prefix: &str,
        config: WatcherConfig,
    ) -> Result<Self> {
        validate_key(prefix)?;
        let origin = Arc::new(Origin::new(
            store,
            prefix,
            &config.selection,
            config.page_size.max(1),
        ));
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
            origin,
        })
    }

    /// A watcher of the objects of `collection` (every namespace unless the handle is
    /// restricted to one): the same as [`Watcher::new`] on its directory.
    pub fn for_collection<C: CodecFor<K>>(
        collection: &Collection<K, C>,
        config: WatcherConfig,
    ) -> Result<Self> {
        Self::new(collection.store(), &collection.directory(), config)
    }

    /// The same watcher, its events shaped by `shape` (filtered, inspected, copied to a
    /// controller...): it still watches the same prefix, so a cache fed from it still reads
    /// the store for consistent reads. The shape must keep the markers
    /// ([`WatcherEvent::InitialState`], [`WatcherEvent::InitialStateDone`]) for a cache to
    /// rebuild its state after a re-list.
    ///
    /// One watch feeding both a cache and a controller:
    ///
    /// ```
    /// # async fn demo<K, C>(store: kvstore_core::Store<C>) -> kvstore_core::Result<()>
    /// # where K: kvstore_core::Object, C: kvstore_core::CodecFor<K> {
    /// use futures::StreamExt;
    /// use kvstore_core::{Cache, Watcher, WatcherConfig};
    ///
    /// let (changes, mut controller) = tokio::sync::mpsc::unbounded_channel();
    /// let watcher = Watcher::<K>::new(&store, "/pods", WatcherConfig::default())?.shape(|events| {
    ///     events.inspect(move |event| {
    ///         if let Ok(event) = event {
    ///             let _ = changes.send(event.event_type());
    ///         }
    ///     })
    /// });
    /// let cache = Cache::from_watcher(watcher);
    /// # let _ = (cache, controller.try_recv());
    /// # Ok(()) }
    /// ```
    pub fn shape<S>(
        self,
        shape: impl FnOnce(BoxStream<'static, Result<WatcherEvent<K>>>) -> S,
    ) -> Self
    where
        S: Stream<Item = Result<WatcherEvent<K>>> + Send + 'static,
    {
        Watcher {
            events: shape(self.events).boxed(),
            origin: self.origin,
        }
    }

    /// The watched prefix.
    pub fn prefix(&self) -> &str {
        &self.origin.prefix
    }

    /// What it watches and how to read that directly, and its events.
    pub(crate) fn into_parts(
        self,
    ) -> (Arc<Origin<K>>, BoxStream<'static, Result<WatcherEvent<K>>>) {
        (self.origin, self.events)
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
                self.ready.push_back(Ok(WatcherEvent::InitialState));
                self.phase = Phase::Paging(None);
            }
            Phase::Paging(token) => self.list_page(token).await,
            Phase::Resume(revision) => {
                // After the revision listed, even 0 (an empty store's): every change since.
                let selection = self.config.selection.clone();
                match self
                    .store
                    .watch_prefix_after::<K>(&self.prefix, revision, selection, true)
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
        next: Option<Result<KeyedEvent<K>>>,
        changes: KeyedWatchStream<K>,
        revision: ResourceVersion,
    ) {
        match next {
            Some(Ok(KeyedEvent {
                key,
                resource_version,
                event,
            })) => {
                let at = resource_version;
                self.backoff.reset();
                self.phase = Phase::Watching(changes, revision.max(at));
                let event = match event {
                    WatchEvent::Added(object) => WatcherEvent::Added { key, object },
                    WatchEvent::Modified(object) => WatcherEvent::Modified { key, object },
                    WatchEvent::Deleted(object) => WatcherEvent::Deleted { key, object },
                    // Every change up to it was delivered.
                    WatchEvent::Bookmark(rv) | WatchEvent::InitialStateDone(rv)
                        if at > revision =>
                    {
                        WatcherEvent::Bookmark(rv)
                    }
                    // Nothing new.
                    WatchEvent::Bookmark(_) | WatchEvent::InitialStateDone(_) => return,
                };
                self.ready.push_back(Ok(event));
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
            selection: self.config.selection.clone(),
        };
        match self.store.list_keyed::<K>(&self.prefix, &options).await {
            Ok(page) => {
                self.backoff.reset();
                for (key, object) in page.items {
                    self.ready
                        .push_back(Ok(WatcherEvent::Added { key, object }));
                }
                match page.metadata.continue_token {
                    Some(next) => self.phase = Phase::Paging(Some(next)),
                    None => {
                        let listed_at = page.metadata.resource_version;
                        self.phase = Phase::Resume(listed_at);
                        self.ready
                            .push_back(Ok(WatcherEvent::InitialStateDone(listed_at)));
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
