//! The keys a batch of transactions is decided on, in key order: a sorted vector, since a
//! batch names few keys (a B-tree's first node alone is a kilobyte, allocated per batch).

use crate::backend::KeyValue;

/// Every key a batch may touch: its value, or `None` when absent.
#[derive(Debug, Default)]
pub(crate) struct View {
    entries: Vec<(String, Option<KeyValue>)>,
}

impl View {
    /// A view naming `absent` (sorted, without duplicates) with the live values of `kvs`.
    pub fn new(absent: Vec<String>, kvs: Vec<KeyValue>) -> View {
        let mut view = View {
            entries: absent.into_iter().map(|key| (key, None)).collect(),
        };
        for kv in kvs {
            let key = kv.key.clone();
            view.set(&key, Some(kv));
        }
        view
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The live value of `key`.
    pub fn get(&self, key: &str) -> Option<&KeyValue> {
        let at = self.find(key).ok()?;
        self.entries[at].1.as_ref()
    }

    /// Sets `key` (inserted in order if the view does not name it yet).
    pub fn set(&mut self, key: &str, value: Option<KeyValue>) {
        match self.find(key) {
            Ok(at) => self.entries[at].1 = value,
            Err(at) => self.entries.insert(at, (key.to_owned(), value)),
        }
    }

    /// Removes the value of `key`, returning it.
    pub fn take(&mut self, key: &str) -> Option<KeyValue> {
        let at = self.find(key).ok()?;
        self.entries[at].1.take()
    }

    /// The live keys in `[start, end)`, in order.
    pub fn live_in(&self, start: &str, end: &str) -> Vec<String> {
        let from = self.find(start).unwrap_or_else(|at| at);
        self.entries[from..]
            .iter()
            .take_while(|(key, _)| key.as_str() < end)
            .filter(|(_, value)| value.is_some())
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Every key the view names, with its value (`None`: absent), in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Option<&KeyValue>)> {
        self.entries
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_ref()))
    }

    /// Every live value, in key order.
    pub fn values(&self) -> impl Iterator<Item = &KeyValue> {
        self.entries.iter().filter_map(|(_, value)| value.as_ref())
    }

    /// Whether no key is live.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.values().next().is_none()
    }
}
