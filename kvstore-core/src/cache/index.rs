//! Named secondary indexes of a cache: index values of each object, kept exact through every
//! change and re-list, with lookups costing the size of the answer.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Objects by name, as the cache holds them.
type Objects<K> = HashMap<String, Arc<K>>;

/// Computes the index values of an object (e.g. its owner, a label's value).
pub(crate) type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

struct Index<K> {
    values_of: IndexFn<K>,
    /// Object names by index value.
    names: HashMap<String, BTreeSet<String>>,
}

impl<K> Index<K> {
    fn insert(&mut self, name: &str, object: &K) {
        for value in (self.values_of)(object) {
            self.names.entry(value).or_default().insert(name.to_owned());
        }
    }

    fn remove(&mut self, name: &str, object: &K) {
        for value in (self.values_of)(object) {
            if let Some(names) = self.names.get_mut(&value) {
                names.remove(name);
                if names.is_empty() {
                    self.names.remove(&value);
                }
            }
        }
    }

    fn rebuild(&mut self, objects: &Objects<K>) {
        self.names.clear();
        for (name, object) in objects {
            self.insert(name, object);
        }
    }
}

/// The indexes of a cache, by name.
pub(crate) struct Indexes<K> {
    indexes: HashMap<String, Index<K>>,
}

impl<K> Default for Indexes<K> {
    fn default() -> Self {
        Indexes {
            indexes: HashMap::new(),
        }
    }
}

impl<K> Indexes<K> {
    /// Adds (or replaces) index `name`, built over `objects`.
    pub(crate) fn add(&mut self, name: &str, values_of: IndexFn<K>, objects: &Objects<K>) {
        let mut index = Index {
            values_of,
            names: HashMap::new(),
        };
        index.rebuild(objects);
        self.indexes.insert(name.to_owned(), index);
    }

    pub(crate) fn insert(&mut self, name: &str, object: &K) {
        for index in self.indexes.values_mut() {
            index.insert(name, object);
        }
    }

    pub(crate) fn remove(&mut self, name: &str, object: &K) {
        for index in self.indexes.values_mut() {
            index.remove(name, object);
        }
    }

    pub(crate) fn rebuild(&mut self, objects: &Objects<K>) {
        for index in self.indexes.values_mut() {
            index.rebuild(objects);
        }
    }

    /// The names of the objects with `value` in index `index`, ordered; `None` for an unknown
    /// index.
    pub(crate) fn lookup(&self, index: &str, value: &str) -> Option<impl Iterator<Item = &String>> {
        let index = self.indexes.get(index)?;
        Some(index.names.get(value).into_iter().flatten())
    }
}
