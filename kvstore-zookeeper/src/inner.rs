//! What the parts of one storage share: the session, where the store lives, the heads learned
//! for the engine, and where the values of the keys last read live.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use zookeeper_client as zk;

use crate::config::ZooKeeperConfig;
use crate::connection::Connection;
use crate::layout::Layout;
use crate::records::ValueRef;

/// Value references remembered at most; past this the memory starts afresh.
const REMEMBERED: usize = 100_000;

pub(crate) struct Inner {
    pub conn: Connection,
    pub layout: Layout,
    pub config: ZooKeeperConfig,
    /// The newest head revision known, for the engine's watches.
    pub heads: tokio::sync::watch::Sender<u64>,
    /// Whether the task watching `head` for other clients' writes runs (from the first watch
    /// stream on: without one, nobody needs them).
    pub head_watcher: std::sync::atomic::AtomicBool,
    /// Where the value of a key version read lately lives, by (key, mod revision): in znodes
    /// of its own (`Some`) or in the key's record (`None`). An append logs the state a change
    /// replaced by reference, and the engine hands it only the bytes.
    refs: Mutex<HashMap<(String, u64), Option<ValueRef>>>,
    /// The ACLs of every znode the store creates.
    acls: Vec<zk::Acl>,
    /// Key directory znodes known to exist (they are never deleted).
    dirs: Mutex<HashSet<String>>,
}

impl Inner {
    pub fn new(conn: Connection, config: ZooKeeperConfig) -> Inner {
        Inner {
            conn,
            layout: Layout::new(&config.root),
            acls: config.acls(),
            dirs: Mutex::new(HashSet::new()),
            config,
            heads: tokio::sync::watch::Sender::new(0),
            head_watcher: std::sync::atomic::AtomicBool::new(false),
            refs: Mutex::new(HashMap::new()),
        }
    }

    /// How the store creates a znode: persistent, with the configured ACLs.
    pub fn create_options(&self) -> zk::CreateOptions<'_> {
        zk::CreateMode::Persistent.with_acls(zk::Acls::new(&self.acls))
    }

    /// Of the key directories `dirs`, those not known to exist.
    pub fn unknown_dirs<'a>(&self, dirs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let known = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let mut unknown: Vec<String> = dirs
            .into_iter()
            .filter(|dir| !known.contains(*dir))
            .map(str::to_owned)
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        unknown
    }

    /// Remembers that the key directory `dir` exists; or, with `None`, forgets them all (one
    /// was found missing: removed by hand).
    pub fn know_dir(&self, dir: Option<String>) {
        let mut known = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        match dir {
            Some(dir) => {
                known.insert(dir);
            }
            None => known.clear(),
        }
    }

    /// Publishes `head` if it is newer than the newest known.
    pub fn learn_head(&self, head: u64) {
        self.heads.send_if_modified(|known| {
            let newer = head > *known;
            *known = (*known).max(head);
            newer
        });
    }

    /// Remembers where the value of `key` at `mod_revision` lives.
    pub fn remember(&self, key: &str, mod_revision: u64, value: &ValueRef) {
        let place = match value {
            ValueRef::Znodes { .. } => Some(value.clone()),
            ValueRef::Text(_) | ValueRef::Base64(_) | ValueRef::Record => None,
        };
        let mut refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        if refs.len() >= REMEMBERED {
            refs.clear();
        }
        refs.insert((key.to_owned(), mod_revision), place);
    }

    /// Where the value of `key` at `mod_revision` lives, if that version was read lately:
    /// `Some(None)` in the key's record.
    pub fn recall(&self, key: &str, mod_revision: u64) -> Option<Option<ValueRef>> {
        let refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        refs.get(&(key.to_owned(), mod_revision)).cloned()
    }

    /// Forgets the version a write replaced.
    pub fn forget(&self, key: &str, mod_revision: u64) {
        let mut refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        refs.remove(&(key.to_owned(), mod_revision));
    }
}
