//! What the engine knows of keys at one revision: the states a read of the storage returned and
//! the states its own appends wrote. The writer decides a batch whose keys are all known
//! without reading them again — one round trip fewer per write on a remote store (a
//! read-modify-write reads a key, then writes it; the write need not read it again).
//!
//! Nothing here can make a write wrong. A batch decided on known states is appended on
//! condition that the store's head is still the revision they were known at: if any writer
//! moved it since (another process; this engine's appends keep what is known current), nothing
//! is written, everything known is forgotten, and the batch is decided again on a fresh read.
//! A batch that would append nothing (a transaction that only reads, or whose compare failed
//! with nothing to do) proves nothing about the head, so the writer reads before answering it.
//!
//! On a storage that [verifies presumed absence](super::Storage::verifies_presumed_absence),
//! keys not known are presumed absent, when the batch creates every one: its append then fails
//! on one that exists, and the batch is read and decided again. So a create is one request.
//!
//! Known states are bounded: past [`MAX_KEYS`] keys or [`MAX_BYTES`] of keys and values, what
//! is known is dropped whole (a value larger than that alone is not kept: its key is read).

use std::collections::HashMap;

use parking_lot::Mutex;

use super::storage::Snapshot;
use super::view::View;
use crate::backend::KeyValue;

/// At most this many keys are known at once.
pub(crate) const MAX_KEYS: usize = 4096;

/// At most this many bytes of keys and values are known at once.
pub(crate) const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Keys as they stood at one revision.
#[derive(Default)]
pub(crate) struct Known {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The revision the keys are known at (0: nothing known).
    revision: u64,
    /// The compaction point last seen.
    compacted: u64,
    /// Each known key's state: `None` when absent.
    keys: HashMap<String, Option<KeyValue>>,
    /// The bytes of the keys and values of `keys`.
    bytes: usize,
}

/// The bytes a known key holds.
fn size(key: &str, state: &Option<KeyValue>) -> usize {
    key.len() + state.as_ref().map_or(0, |kv| kv.value.len())
}

/// A view of known keys, at the revision they are known at.
pub(crate) struct KnownView {
    pub revision: u64,
    pub compacted: u64,
    pub view: View,
}

impl State {
    /// Makes the keys known at `revision`, given as they stood there: merged with what is
    /// known at the same revision, replacing what is known at an older one; ignored when
    /// something newer is known.
    fn learn(&mut self, revision: u64, keys: impl IntoIterator<Item = (String, Option<KeyValue>)>) {
        if revision < self.revision {
            return;
        }
        if revision > self.revision {
            self.clear();
            self.revision = revision;
        }
        for (key, state) in keys {
            let added = size(&key, &state);
            if let Some(old) = self.keys.remove(&key) {
                self.bytes -= size(&key, &old);
            }
            if added > MAX_BYTES {
                continue;
            }
            if self.keys.len() >= MAX_KEYS || self.bytes + added > MAX_BYTES {
                self.clear();
            }
            self.bytes += added;
            self.keys.insert(key, state);
        }
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.bytes = 0;
    }
}

impl Known {
    /// Learns a read: the keys `asked`, found in `snapshot` or absent, at its revision.
    pub fn learn_read(&self, snapshot: &Snapshot, asked: &[String]) {
        let mut state = self.state.lock();
        state.compacted = state.compacted.max(snapshot.compacted);
        let found = |key: &String| snapshot.kvs.iter().find(|kv| &kv.key == key).cloned();
        state.learn(
            snapshot.revision,
            asked.iter().map(|key| (key.clone(), found(key))),
        );
    }

    /// Learns an append from head `base` to `revision` that left the keys of `view` as they
    /// are in it. What is known at `base` stays true at `revision`: the append took place only
    /// because no other writer had moved the head.
    pub fn learn_append(&self, base: u64, revision: u64, view: &View) {
        let mut state = self.state.lock();
        if state.revision == base {
            state.revision = revision;
        }
        state.learn(
            revision,
            view.entries()
                .map(|(key, value)| (key.to_owned(), value.cloned())),
        );
    }

    /// Learns that the history before `compacted` is gone.
    pub fn learn_compacted(&self, compacted: u64) {
        let mut state = self.state.lock();
        state.compacted = state.compacted.max(compacted);
    }

    /// A view of `names` (sorted) at the known revision, the keys not known presumed absent
    /// (when `presume`; else `None` if any is not known); with the keys presumed.
    pub fn view_presuming(
        &self,
        names: &[String],
        presume: bool,
    ) -> Option<(KnownView, Vec<String>)> {
        let state = self.state.lock();
        if state.revision == 0 {
            return None;
        }
        let (mut absent, mut kvs, mut presumed) = (Vec::new(), Vec::new(), Vec::new());
        for name in names {
            match state.keys.get(name) {
                Some(Some(kv)) => kvs.push(kv.clone()),
                Some(None) => absent.push(name.clone()),
                None if presume => {
                    absent.push(name.clone());
                    presumed.push(name.clone());
                }
                None => return None,
            }
        }
        let view = KnownView {
            revision: state.revision,
            compacted: state.compacted,
            view: View::new(absent, kvs),
        };
        Some((view, presumed))
    }

    /// Forgets every key: the head moved past what is known.
    pub fn forget(&self) {
        let mut state = self.state.lock();
        state.clear();
        state.revision = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn kv(key: &str, revision: u64) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Bytes::from_static(b"v"),
            create_revision: revision,
            mod_revision: revision,
            lease: None,
        }
    }

    fn snapshot(revision: u64, kvs: Vec<KeyValue>) -> Snapshot {
        Snapshot {
            revision,
            compacted: 0,
            kvs,
            more: false,
        }
    }

    /// The view of `names` when every one is known.
    fn view(known: &Known, names: &[String]) -> Option<KnownView> {
        known.view_presuming(names, false).map(|(view, _)| view)
    }

    fn names(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn a_read_makes_found_and_absent_keys_known_at_its_revision() {
        let known = Known::default();
        assert!(view(&known, &names(&["/a"])).is_none());
        known.learn_read(&snapshot(5, vec![kv("/a", 3)]), &names(&["/a", "/b"]));
        let seen = view(&known, &names(&["/a", "/b"])).expect("known");
        assert_eq!(seen.revision, 5);
        assert_eq!(seen.view.get("/a"), Some(&kv("/a", 3)));
        assert_eq!(seen.view.get("/b"), None);
        assert!(
            view(&known, &names(&["/a", "/c"])).is_none(),
            "/c was never read"
        );
    }

    #[test]
    fn a_newer_read_replaces_what_was_known_and_an_older_one_is_ignored() {
        let known = Known::default();
        known.learn_read(&snapshot(5, vec![kv("/a", 3)]), &names(&["/a"]));
        known.learn_read(&snapshot(7, vec![]), &names(&["/b"]));
        assert!(
            view(&known, &names(&["/a"])).is_none(),
            "/a may have changed by 7"
        );
        known.learn_read(&snapshot(6, vec![kv("/c", 6)]), &names(&["/c"]));
        assert!(
            view(&known, &names(&["/c"])).is_none(),
            "older than what is known"
        );
        assert_eq!(view(&known, &names(&["/b"])).expect("known").revision, 7);
    }

    #[test]
    fn an_append_on_the_known_head_keeps_the_other_keys_known() {
        let known = Known::default();
        known.learn_read(
            &snapshot(5, vec![kv("/a", 3), kv("/b", 4)]),
            &names(&["/a", "/b"]),
        );
        let after = View::new(Vec::new(), vec![kv("/a", 6)]);
        known.learn_append(5, 6, &after);
        let seen = view(&known, &names(&["/a", "/b"])).expect("known");
        assert_eq!(seen.revision, 6);
        assert_eq!(seen.view.get("/a"), Some(&kv("/a", 6)));
        assert_eq!(seen.view.get("/b"), Some(&kv("/b", 4)));
    }

    #[test]
    fn an_append_on_another_head_knows_only_its_own_keys() {
        let known = Known::default();
        known.learn_read(&snapshot(5, vec![kv("/b", 4)]), &names(&["/b"]));
        let after = View::new(Vec::new(), vec![kv("/a", 9)]);
        known.learn_append(8, 9, &after);
        assert!(
            view(&known, &names(&["/b"])).is_none(),
            "/b may have changed by 8"
        );
        assert_eq!(view(&known, &names(&["/a"])).expect("known").revision, 9);
    }

    #[test]
    fn keys_not_known_are_presumed_absent_only_when_asked() {
        let known = Known::default();
        assert!(
            known.view_presuming(&names(&["/a"]), true).is_none(),
            "no revision to presume at"
        );
        known.learn_read(&snapshot(5, vec![kv("/a", 3)]), &names(&["/a"]));
        let (seen, presumed) = known
            .view_presuming(&names(&["/a", "/b"]), true)
            .expect("a view");
        assert_eq!(seen.revision, 5);
        assert_eq!(seen.view.get("/a"), Some(&kv("/a", 3)));
        assert_eq!(seen.view.get("/b"), None);
        assert_eq!(presumed, names(&["/b"]));
        assert!(known.view_presuming(&names(&["/a", "/b"]), false).is_none());
    }

    #[test]
    fn forgetting_and_the_bound_drop_what_is_known() {
        let known = Known::default();
        known.learn_read(&snapshot(5, vec![]), &names(&["/a"]));
        known.forget();
        assert!(view(&known, &names(&["/a"])).is_none());
        let many: Vec<String> = (0..=MAX_KEYS).map(|n| format!("/k{n}")).collect();
        known.learn_read(&snapshot(6, vec![]), &many);
        let last = &many[MAX_KEYS..];
        assert!(view(&known, last).is_some());
        assert!(view(&known, &many[..1]).is_none(), "dropped at the bound");
    }

    #[test]
    fn known_values_are_bounded_in_bytes() {
        let known = Known::default();
        let big = |key: &str, len: usize| KeyValue {
            value: Bytes::from(vec![b'x'; len]),
            ..kv(key, 1)
        };
        let third = MAX_BYTES / 3;
        let keys = names(&["/a", "/b", "/c", "/d"]);
        let kvs = keys.iter().map(|k| big(k, third)).collect();
        known.learn_read(&snapshot(5, kvs), &keys);
        assert!(
            view(&known, &keys[3..]).is_some(),
            "the last one read is kept"
        );
        assert!(view(&known, &keys[..1]).is_none(), "dropped past the bound");
        let huge = names(&["/huge"]);
        known.learn_read(&snapshot(5, vec![big("/huge", MAX_BYTES + 1)]), &huge);
        assert!(view(&known, &huge).is_none(), "too large to keep alone");
        assert!(view(&known, &keys[3..]).is_some(), "what was known stays");
    }
}
