//! The cache's state: objects by name, the revision they are at, and who is told of changes.
//! Applying a watcher event is a plain function of this state, so it is tested alone.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::events::CacheEvent;
use super::index::Indexes;
use crate::object::Object;
use crate::resource_version::ResourceVersion;
use crate::watcher::WatcherEvent;

/// Objects by name (the key below the prefix).
pub(crate) type Objects<K> = HashMap<String, Arc<K>>;

pub(crate) struct Snapshot<K> {
    /// The key prefix plus its trailing `/`.
    directory: String,
    pub(crate) objects: Objects<K>,
    /// The revision of the last change applied (or of the last list).
    pub(crate) revision: ResourceVersion,
    /// Whether a list has completed.
    pub(crate) synced: bool,
    /// The state a re-list is building, swapped in when it completes.
    building: Option<Objects<K>>,
    subscribers: Vec<mpsc::UnboundedSender<CacheEvent<K>>>,
    /// Whether the feed ended: no new subscriber is told of changes.
    stopped: bool,
    /// Lists completed.
    pub(crate) lists: u64,
    /// Secondary indexes over `objects`.
    pub(crate) indexes: Indexes<K>,
    /// `objects` ordered by name, built by the first list after a change.
    in_order: OnceLock<Vec<Arc<K>>>,
}

impl<K: Object> Snapshot<K> {
    pub(crate) fn new(prefix: &str) -> Self {
        Snapshot {
            directory: format!("{prefix}/"),
            objects: HashMap::new(),
            revision: ResourceVersion::ZERO,
            synced: false,
            building: None,
            subscribers: Vec::new(),
            stopped: false,
            lists: 0,
            indexes: Indexes::default(),
            in_order: OnceLock::new(),
        }
    }

    /// The objects ordered by name (sorted once per change, however many lists follow).
    pub(crate) fn in_order(&self) -> &[Arc<K>] {
        self.in_order.get_or_init(|| {
            sorted(&self.objects)
                .into_iter()
                .map(|(_, object)| Arc::clone(object))
                .collect()
        })
    }

    /// Objects read so far by the list in progress; `None` when none is.
    pub(crate) fn listing(&self) -> Option<usize> {
        self.building.as_ref().map(HashMap::len)
    }

    /// The object's name under the prefix.
    fn name_of(&self, key: String) -> String {
        match key.strip_prefix(&self.directory) {
            Some(name) => name.to_owned(),
            None => key,
        }
    }

    /// Applies one watcher event.
    pub(crate) fn apply(&mut self, event: WatcherEvent<K>) {
        match event {
            WatcherEvent::InitialState => self.building = Some(HashMap::new()),
            WatcherEvent::Added { key, object } if self.building.is_some() => {
                let name = self.name_of(key);
                self.building
                    .get_or_insert_with(HashMap::new)
                    .insert(name, Arc::new(object));
            }
            WatcherEvent::InitialStateDone(resource_version) => {
                if self.synced {
                    metrics::counter!(crate::metrics::CACHE_RELISTS, "kind" => K::KIND)
                        .increment(1);
                }
                self.in_order.take();
                let fresh = self.building.take().unwrap_or_default();
                let old = std::mem::replace(&mut self.objects, fresh);
                self.indexes.rebuild(&self.objects);
                self.revision = resource_version;
                self.synced = true;
                self.lists += 1;
                self.announce_swap(old);
            }
            WatcherEvent::Added { key, object } | WatcherEvent::Modified { key, object } => {
                self.in_order.take();
                let name = self.name_of(key);
                self.advance(&object);
                let new = Arc::new(object);
                let old = self.objects.insert(name.clone(), Arc::clone(&new));
                if let Some(old) = &old {
                    self.indexes.remove(&name, old);
                }
                self.indexes.insert(&name, &new);
                let event = match old {
                    Some(old) => CacheEvent::Modified { old, new },
                    None => CacheEvent::Added(new),
                };
                self.announce(event);
            }
            WatcherEvent::Deleted { key, object } => {
                self.in_order.take();
                let name = self.name_of(key);
                self.advance(&object);
                let gone = match self.objects.remove(&name) {
                    Some(gone) => {
                        self.indexes.remove(&name, &gone);
                        gone
                    }
                    None => Arc::new(object),
                };
                self.announce(CacheEvent::Deleted(gone));
            }
            WatcherEvent::Bookmark(resource_version) => {
                self.revision = self.revision.max(resource_version);
            }
        }
    }

    fn advance(&mut self, object: &K) {
        if let Some(rv) = object.metadata().version() {
            self.revision = self.revision.max(rv);
        }
    }

    /// Tells subscribers what a re-list changed.
    fn announce_swap(&mut self, old: Objects<K>) {
        if self.subscribers.is_empty() {
            return;
        }
        let mut events = Vec::new();
        for (name, new) in sorted(&self.objects) {
            match old.get(name) {
                None => events.push(CacheEvent::Added(Arc::clone(new))),
                Some(previous) if version(previous.as_ref()) != version(new.as_ref()) => events
                    .push(CacheEvent::Modified {
                        old: Arc::clone(previous),
                        new: Arc::clone(new),
                    }),
                Some(_) => {}
            }
        }
        for (name, previous) in sorted(&old) {
            if !self.objects.contains_key(name) {
                events.push(CacheEvent::Deleted(Arc::clone(previous)));
            }
        }
        for event in events {
            self.announce(event);
        }
    }

    fn announce(&mut self, event: CacheEvent<K>) {
        if self.subscribers.is_empty() {
            return;
        }
        self.subscribers
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
    }

    /// The feed ended (the store was closed): subscribers' streams end.
    pub(crate) fn stop(&mut self) {
        self.subscribers.clear();
        self.stopped = true;
    }

    /// A new subscriber: told of every current object as added, then of every change.
    pub(crate) fn subscribe(&mut self) -> mpsc::UnboundedReceiver<CacheEvent<K>> {
        let (tx, rx) = mpsc::unbounded_channel();
        for (_, object) in sorted(&self.objects) {
            let _ = tx.send(CacheEvent::Added(Arc::clone(object)));
        }
        if !self.stopped {
            self.subscribers.push(tx);
        }
        rx
    }
}

fn version<K: Object>(object: &K) -> Option<&str> {
    object.metadata().resource_version.as_deref()
}

/// The objects ordered by name.
pub(crate) fn sorted<K>(objects: &Objects<K>) -> Vec<(&String, &Arc<K>)> {
    let mut all: Vec<_> = objects.iter().collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    all
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Snapshot;
    use crate::test_kind::Pod;
    use crate::watcher::WatcherEvent;

    fn pod(name: &str, node: &str, rv: u64) -> Pod {
        let mut pod = crate::test_kind::pod(name, node);
        pod.metadata.resource_version = Some(rv.to_string());
        pod
    }

    fn on(snapshot: &Snapshot<Pod>, node: &str) -> Vec<String> {
        snapshot
            .indexes
            .lookup("node", node)
            .expect("the index exists")
            .cloned()
            .collect()
    }

    #[test]
    fn indexes_and_list_progress_follow_changes_and_relists() {
        let mut snapshot = Snapshot::<Pod>::new("/pods");
        snapshot.indexes.add(
            "node",
            Arc::new(|p: &Pod| vec![p.node.clone()]),
            &snapshot.objects.clone(),
        );
        let apply = |snapshot: &mut Snapshot<Pod>, event| snapshot.apply(event);
        apply(&mut snapshot, WatcherEvent::InitialState);
        for (name, node) in [("a", "n1"), ("b", "n1"), ("c", "n2")] {
            let key = format!("/pods/{name}");
            apply(
                &mut snapshot,
                WatcherEvent::Added {
                    key,
                    object: pod(name, node, 1),
                },
            );
        }
        assert_eq!((snapshot.listing(), snapshot.lists), (Some(3), 0));
        apply(
            &mut snapshot,
            WatcherEvent::InitialStateDone(crate::ResourceVersion::new(1).unwrap()),
        );
        assert_eq!((snapshot.listing(), snapshot.lists), (None, 1));
        assert_eq!(on(&snapshot, "n1"), ["a", "b"]);
        // b moves, c goes, d arrives.
        let b = pod("b", "n2", 2);
        apply(
            &mut snapshot,
            WatcherEvent::Modified {
                key: "/pods/b".into(),
                object: b,
            },
        );
        let c = pod("c", "n2", 3);
        apply(
            &mut snapshot,
            WatcherEvent::Deleted {
                key: "/pods/c".into(),
                object: c,
            },
        );
        let d = pod("d", "n1", 4);
        apply(
            &mut snapshot,
            WatcherEvent::Added {
                key: "/pods/d".into(),
                object: d,
            },
        );
        assert_eq!(on(&snapshot, "n1"), ["a", "d"]);
        assert_eq!(on(&snapshot, "n2"), ["b"]);
        // A re-list replaces everything, the index too.
        apply(&mut snapshot, WatcherEvent::InitialState);
        let e = pod("e", "n2", 9);
        apply(
            &mut snapshot,
            WatcherEvent::Added {
                key: "/pods/e".into(),
                object: e,
            },
        );
        // While it lists again, the previous state is served and the list's progress shown.
        assert_eq!((snapshot.listing(), snapshot.lists), (Some(1), 1));
        assert_eq!(on(&snapshot, "n1"), ["a", "d"]);
        apply(
            &mut snapshot,
            WatcherEvent::InitialStateDone(crate::ResourceVersion::new(9).unwrap()),
        );
        assert_eq!((snapshot.listing(), snapshot.lists), (None, 2));
        assert!(on(&snapshot, "n1").is_empty());
        assert_eq!(on(&snapshot, "n2"), ["e"]);
        assert!(snapshot.indexes.lookup("zone", "z").is_none());
    }
}
