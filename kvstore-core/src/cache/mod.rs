//! [`Cache`]: a local, concurrently readable copy of the objects under a prefix, fed by a
//! [`Watcher`], and change events derived from it for controllers ([`CacheEvents`]).

mod events;
mod index;
mod snapshot;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub use self::events::{CacheEvent, CacheEvents};
use self::snapshot::{sorted, Snapshot};
use crate::codec::CodecFor;
use crate::error::{Error, Result};
use crate::object::Object;
use crate::selector::LabelSelector;
use crate::store::Store;
use crate::watcher::{Watcher, WatcherConfig};

/// How far the cache has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Progress {
    synced: bool,
    revision: u64,
    /// The feed ended: the store was closed.
    stopped: bool,
}

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
/// is `alice`), as with [`Collection`](crate::Collection).
pub struct Cache<K> {
    shared: Arc<Shared<K>>,
    _feeder: Arc<Feeder>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache {
            shared: Arc::clone(&self.shared),
            _feeder: Arc::clone(&self._feeder),
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
        let watcher = Watcher::new(store, prefix, config)?;
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Snapshot::new(prefix)),
            progress: watch::channel(Progress::default()).0,
        });
        let task = tokio::spawn(feed(Arc::clone(&shared), watcher, prefix.to_owned()));
        Ok(Cache {
            shared,
            _feeder: Arc::new(Feeder(task.abort_handle())),
        })
    }
}

async fn feed<K: Object>(shared: Arc<Shared<K>>, mut watcher: Watcher<K>, prefix: String) {
    while let Some(item) = watcher.next().await {
        match item {
            Ok(event) => {
                let progress = {
                    let mut snapshot = shared.write();
                    snapshot.apply(event);
                    Progress {
                        synced: snapshot.synced,
                        revision: snapshot.revision,
                        stopped: false,
                    }
                };
                shared.progress.send_if_modified(|current| {
                    let changed = *current != progress;
                    *current = progress;
                    changed
                });
            }
            Err(err) => tracing::warn!(%err, %prefix, kind = K::KIND, "cache feed error"),
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
        let snapshot = self.shared.read();
        sorted(&snapshot.objects)
            .into_iter()
            .map(|(_, object)| Arc::clone(object))
            .collect()
    }

    /// The cached objects whose labels match `selector`, ordered by name.
    pub fn list_by(&self, selector: &LabelSelector) -> Vec<Arc<K>> {
        let snapshot = self.shared.read();
        sorted(&snapshot.objects)
            .into_iter()
            .filter(|(_, object)| selector.matches(&object.metadata().labels))
            .map(|(_, object)| Arc::clone(object))
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
    pub fn resource_version(&self) -> String {
        self.shared.progress.borrow().revision.to_string()
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

    /// Waits until the cache has applied `resource_version`: pass the resource version of a
    /// write under the cache's prefix to read your own write. (A version written elsewhere is
    /// reached only with the next change under the prefix.) An unparsable version is an
    /// [`Error::InvalidArgument`]; a cache whose store was closed first is [`Error::Closed`].
    pub async fn wait_for(&self, resource_version: &str) -> Result<()> {
        let target = crate::store::parse_resource_version(resource_version)?;
        let mut progress = self.shared.progress.subscribe();
        let reached = |p: &Progress| p.synced && p.revision >= target;
        let done = match progress.wait_for(|p| reached(p) || p.stopped).await {
            Ok(p) => reached(&p),
            Err(_) => false,
        };
        match done {
            true => Ok(()),
            false => Err(Error::Closed {
                what: "the cache".to_owned(),
            }),
        }
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
