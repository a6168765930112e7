//! [`Cache`]: a local, concurrently readable copy of the objects under a prefix, fed by a
//! [`Watcher`], consistent reads from it, and change events derived from it for controllers
//! ([`CacheEvents`]).

mod consistent;
mod events;
mod index;
mod snapshot;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use self::consistent::{RevisionProbe, Source, CATCH_UP_TIMEOUT};
pub use self::events::{CacheEvent, CacheEvents};
use self::snapshot::Snapshot;
use crate::backend::Backend;
use crate::codec::CodecFor;
use crate::error::{Error, Result};
use crate::object::Object;
use crate::resource_version::ResourceVersion;
use crate::selector::LabelSelector;
use crate::store::{Collection, Store};
use crate::watcher::{DirectRead, Watcher, WatcherConfig, WatcherEvent};

/// This cache's share of `kvstore_cache_objects` (see [`crate::metrics`]), taken back when the
/// cache's feed ends or is dropped.
struct CountedObjects {
    kind: &'static str,
    count: usize,
}

impl CountedObjects {
    fn new(kind: &'static str) -> Self {
        CountedObjects { kind, count: 0 }
    }

    fn set(&mut self, count: usize) {
        let change = count as f64 - self.count as f64;
        metrics::gauge!(crate::metrics::CACHE_OBJECTS, "kind" => self.kind).increment(change);
        self.count = count;
    }
}

impl Drop for CountedObjects {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// How far a cache has got ([`Cache::progress`]): published after every page of a list and
/// every batch of changes applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheProgress {
    /// Whether a complete listed state has been applied (and changes are followed).
    pub synced: bool,
    /// The resource version of the last change or list applied.
    pub revision: ResourceVersion,
    /// Objects read so far by a list in progress — the first, or one made again after history
    /// was compacted under the watch (the cache serves its previous state meanwhile); `None`
    /// when no list is running.
    pub listing: Option<usize>,
    /// Lists completed.
    pub lists: u64,
    /// The feed ended: the store was closed.
    pub stopped: bool,
}

type Progress = CacheProgress;

struct Shared<K> {
    snapshot: RwLock<Snapshot<K>>,
    progress: watch::Sender<Progress>,
}

impl<K> Shared<K> {
    fn read(&self) -> RwLockReadGuard<'_, Snapshot<K>> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, Snapshot<K>> {
        self.snapshot.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// How often [`Cache::wait_for`] asks again for a bookmark while it waits.
const BOOKMARK_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Stops the feeder when the last handle goes.
struct Feeder(AbortHandle);

impl Drop for Feeder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A local copy of the objects of kind `K` under a prefix, kept up to date by a background
/// [`Watcher`] (list, then watch; re-list on compaction). Reads are served from memory and
/// never wait for the store; the feeder holds the write lock only to apply one change, and a
/// re-list is swapped in at once. Cheap to clone; the feeder stops when the last clone drops.
///
/// Objects are addressed by *name*: their key below the prefix (`/users/alice` under `/users`
/// is `alice`), as with [`Collection`].
///
/// Plain reads ([`Cache::get`], [`Cache::list`]...) answer at once with what the cache has,
/// which may lag the store by the watch's latency. Consistent reads
/// ([`Cache::consistent_get`], [`Cache::consistent_list`], [`Cache::consistent_list_by`])
/// return state at least as new as every write acknowledged before the read began: they learn
/// the store's revision with one cheap request (shared by the reads that start together), wait
/// until the cache has applied it — a quiet prefix gets there through a bookmark asked of its
/// watch ([`Store::request_bookmarks`]) — and answer from memory. A store that cannot give
/// bookmarks (etcd before 3.4.25 / 3.5.8), or a cache that does not catch up within 3 s, is
/// read directly instead.
pub struct Cache<K> {
    shared: Arc<Shared<K>>,
    _feeder: Arc<Feeder>,
    backend: Arc<dyn Backend>,
    probe: Arc<RevisionProbe>,
    direct: DirectRead<K>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache {
            shared: Arc::clone(&self.shared),
            _feeder: Arc::clone(&self._feeder),
            backend: Arc::clone(&self.backend),
            probe: Arc::clone(&self.probe),
            direct: Arc::clone(&self.direct),
        }
    }
}

impl<K> std::fmt::Debug for Cache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let progress = *self.shared.progress.borrow();
        f.debug_struct("Cache")
            .field("synced", &progress.synced)
            .field("revision", &progress.revision)
            .finish_non_exhaustive()
    }
}

impl<K: Object> Cache<K> {
    /// A cache of the objects of kind `K` under `prefix` of `store`, fed in the background
    /// (spawned on the current tokio runtime). An invalid prefix is an [`Error::InvalidKey`].
    pub fn new<C: CodecFor<K>>(store: &Store<C>, prefix: &str) -> Result<Cache<K>> {
        Self::with_config(store, prefix, WatcherConfig::default())
    }

    /// [`Cache::new`] with a watcher configuration of its own.
    pub fn with_config<C: CodecFor<K>>(
        store: &Store<C>,
        prefix: &str,
        config: WatcherConfig,
    ) -> Result<Cache<K>> {
        Ok(Self::from_watcher(Watcher::new(store, prefix, config)?))
    }

    /// A cache of the objects of `collection` (every namespace unless the handle is restricted
    /// to one), named as the collection names them below its directory: `alice` in a
    /// collection restricted to a namespace, `team-a/alice` across namespaces.
    pub fn for_collection<C: CodecFor<K>>(collection: &Collection<K, C>) -> Result<Cache<K>> {
        Ok(Self::from_watcher(Watcher::for_collection(
            collection,
            WatcherConfig::default(),
        )?))
    }

    /// A cache fed by `watcher`, shaped as it may be ([`Watcher::shape`]); consistent reads
    /// fall back on reading what the watcher watches. Spawned on the current tokio runtime.
    pub fn from_watcher(watcher: Watcher<K>) -> Cache<K> {
        let (origin, events) = watcher.into_parts();
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Snapshot::new(&origin.prefix)),
            progress: watch::channel(Progress::default()).0,
        });
        let task = tokio::spawn(feed(Arc::clone(&shared), events, origin.prefix.clone()));
        Cache {
            shared,
            _feeder: Arc::new(Feeder(task.abort_handle())),
            probe: RevisionProbe::new(Arc::clone(&origin.backend)),
            backend: Arc::clone(&origin.backend),
            direct: Arc::clone(&origin.read),
        }
    }
}

/// Objects of a list applied between two publications of its progress.
const LIST_BATCH: usize = 1024;

async fn feed<K: Object>(
    shared: Arc<Shared<K>>,
    mut events: BoxStream<'static, Result<WatcherEvent<K>>>,
    prefix: String,
) {
    let mut ended = false;
    let mut counted = CountedObjects::new(K::KIND);
    let mut listing = false;
    while let Some(first) = events.next().await {
        // The changes of one write arrive together: every event ready now is applied under one
        // lock before the progress is published, so that no reader (a consistent read waiting
        // for a revision included) sees part of a transaction. A list is not visible before it
        // is complete: its progress is published every `LIST_BATCH` objects.
        let mut batch = vec![first];
        loop {
            if let Some(Ok(event)) = batch.last() {
                listing = match event {
                    WatcherEvent::InitialState => true,
                    WatcherEvent::InitialStateDone(_) => false,
                    _ => listing,
                };
            }
            if listing && batch.len() >= LIST_BATCH {
                break;
            }
            match events.next().now_or_never() {
                Some(Some(item)) => batch.push(item),
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        let progress = {
            let mut snapshot = shared.write();
            for item in batch {
                match item {
                    Ok(event) => snapshot.apply(event),
                    Err(err) => tracing::warn!(%err, %prefix, kind = K::KIND, "cache feed error"),
                }
            }
            counted.set(snapshot.objects.len());
            Progress {
                synced: snapshot.synced,
                revision: snapshot.revision,
                listing: snapshot.listing(),
                lists: snapshot.lists,
                stopped: false,
            }
        };
        shared.progress.send_if_modified(|current| {
            let changed = *current != progress;
            *current = progress;
            changed
        });
        if ended {
            break;
        }
        if progress.listing.is_some() {
            // A long list lets the followers of its progress (and everything else) run.
            tokio::task::yield_now().await;
        }
    }
    // The watcher ends only when the store is closed.
    shared.write().stop();
    shared
        .progress
        .send_modify(|progress| progress.stopped = true);
}

impl<K: Object> Cache<K> {
    /// The object named `name`, if cached.
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        self.shared.read().objects.get(name).cloned()
    }

    /// Every cached object, ordered by name.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.shared.read().in_order().to_vec()
    }

    /// The cached objects whose labels match `selector`, ordered by name.
    pub fn list_by(&self, selector: &LabelSelector) -> Vec<Arc<K>> {
        let snapshot = self.shared.read();
        snapshot
            .in_order()
            .iter()
            .filter(|object| selector.matches(&object.metadata().labels))
            .map(Arc::clone)
            .collect()
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.shared.read().objects.len()
    }

    /// Whether no object is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The resource version the cache is at: that of the last change or list applied.
    pub fn resource_version(&self) -> ResourceVersion {
        self.shared.progress.borrow().revision
    }

    /// How far the cache has got, now and as it changes: a list's progress (objects read so
    /// far), then each change applied — what a progress bar for a big cache's (re)list follows.
    pub fn progress(&self) -> watch::Receiver<CacheProgress> {
        self.shared.progress.subscribe()
    }

    /// Whether the first list has been applied.
    pub fn is_synced(&self) -> bool {
        self.shared.progress.borrow().synced
    }

    /// Waits until the first list has been applied (or the store was closed first).
    pub async fn wait_until_synced(&self) {
        let mut progress = self.shared.progress.subscribe();
        // The sender lives in `self.shared`, so the channel cannot close while we wait.
        let _ = progress.wait_for(|p| p.synced || p.stopped).await;
    }

    /// Waits until the cache has applied `resource_version`, written under the cache's prefix
    /// or anywhere else in the store: pass the resource version of a write to read your own
    /// write. A version written elsewhere is reached through bookmarks, asked of the watch
    /// every second while waiting (on a store that cannot give them: with the next change under
    /// the prefix, or the store's own bookmarks). A cache whose store was closed first is
    /// [`Error::Closed`].
    pub async fn wait_for(&self, resource_version: ResourceVersion) -> Result<()> {
        let target = resource_version.revision();
        loop {
            if self.reached(target)? {
                return Ok(());
            }
            let bookmarks = match self.backend.request_progress().await {
                Ok(()) => true,
                Err(err) if err.is_unsupported() => false,
                Err(err) => return Err(err),
            };
            if !bookmarks {
                return self.wait_until(target).await;
            }
            if let Ok(reached) = tokio::time::timeout(BOOKMARK_RETRY, self.wait_until(target)).await
            {
                return reached;
            }
        }
    }

    /// Whether the cache has applied `target`; [`Error::Closed`] if it never will.
    fn reached(&self, target: u64) -> Result<bool> {
        let progress = *self.shared.progress.borrow();
        match progress {
            p if p.synced && p.revision.revision() >= target => Ok(true),
            p if p.stopped => Err(self.closed()),
            _ => Ok(false),
        }
    }

    /// Waits until the cache has applied `target`.
    async fn wait_until(&self, target: u64) -> Result<()> {
        let mut progress = self.shared.progress.subscribe();
        let reached = |p: &Progress| p.synced && p.revision.revision() >= target;
        let done = match progress.wait_for(|p| reached(p) || p.stopped).await {
            Ok(p) => reached(&p),
            Err(_) => false,
        };
        match done {
            true => Ok(()),
            false => Err(self.closed()),
        }
    }

    fn closed(&self) -> Error {
        Error::Closed {
            what: "the cache".to_owned(),
        }
    }

    /// Where a consistent read that begins now is answered from.
    async fn consistent_source(&self) -> Result<Source> {
        let target = self.probe.current_revision().await?;
        if self.reached(target)? {
            return Ok(Source::Cache);
        }
        match self.backend.request_progress().await {
            Ok(()) => {}
            Err(err) if err.is_unsupported() => return Ok(Source::Store),
            Err(err) => return Err(err),
        }
        match tokio::time::timeout(CATCH_UP_TIMEOUT, self.wait_until(target)).await {
            Ok(reached) => reached.map(|()| Source::Cache),
            Err(_) => {
                tracing::debug!(
                    target,
                    kind = K::KIND,
                    "cache did not catch up, reading the store"
                );
                Ok(Source::Store)
            }
        }
    }

    /// The object named `name` as of at least every write acknowledged before this call (see
    /// the type's docs); `None` if there is none (or the cache's selectors leave it out).
    pub async fn consistent_get(&self, name: &str) -> Result<Option<Arc<K>>> {
        match self.consistent_source().await? {
            Source::Cache => Ok(self.get(name)),
            Source::Store => Ok((self.direct)(Some(name.to_owned()))
                .await?
                .into_iter()
                .next()
                .map(|(_, object)| Arc::new(object))),
        }
    }

    /// Every object, ordered by name, as of at least every write acknowledged before this call.
    pub async fn consistent_list(&self) -> Result<Vec<Arc<K>>> {
        match self.consistent_source().await? {
            Source::Cache => Ok(self.list()),
            Source::Store => self.read_store(|_| true).await,
        }
    }

    /// The objects whose labels match `selector`, ordered by name, as of at least every write
    /// acknowledged before this call.
    pub async fn consistent_list_by(&self, selector: &LabelSelector) -> Result<Vec<Arc<K>>> {
        match self.consistent_source().await? {
            Source::Cache => Ok(self.list_by(selector)),
            Source::Store => {
                self.read_store(|o: &K| selector.matches(&o.metadata().labels))
                    .await
            }
        }
    }

    /// The cache's objects read from the store, those `keep` keeps, ordered by name.
    async fn read_store(&self, keep: impl Fn(&K) -> bool) -> Result<Vec<Arc<K>>> {
        let mut objects = (self.direct)(None).await?;
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(objects
            .into_iter()
            .filter(|(_, object)| keep(object))
            .map(|(_, object)| Arc::new(object))
            .collect())
    }

    /// Adds (or replaces) the secondary index `name`: `values_of` gives the index values of an
    /// object (its owner, a label's value, a field...; none leaves it out of the index). Built
    /// over the objects cached now and kept exact through every later change and re-list;
    /// [`Cache::by_index`] looks it up.
    pub fn add_index<F>(&self, name: &str, values_of: F)
    where
        F: Fn(&K) -> Vec<String> + Send + Sync + 'static,
    {
        let mut snapshot = self.shared.write();
        let snapshot = &mut *snapshot;
        snapshot
            .indexes
            .add(name, Arc::new(values_of), &snapshot.objects);
    }

    /// The cached objects with `value` in index `name`, ordered by name; costs the size of the
    /// answer, not of the cache. [`Error::InvalidArgument`] for an index never added.
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<Arc<K>>> {
        let snapshot = self.shared.read();
        let names = snapshot
            .indexes
            .lookup(name, value)
            .ok_or_else(|| Error::InvalidArgument(format!("the cache has no index {name:?}")))?;
        Ok(names
            .filter_map(|n| snapshot.objects.get(n).cloned())
            .collect())
    }

    /// A stream of changes: every cached object as [`CacheEvent::Added`],
    /// then each change as it is applied (a re-list reports the difference it made).
    pub fn events(&self) -> CacheEvents<K> {
        CacheEvents {
            receiver: self.shared.write().subscribe(),
        }
    }
}
