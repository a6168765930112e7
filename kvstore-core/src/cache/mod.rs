//! Watcher and cache: a self-healing list-then-watch stream ([`Watcher`]), a local copy of the
//! objects under a prefix fed by it ([`Cache`]), and change notifications for controllers
//! ([`CacheEvents`]). Built once on the typed store, so they behave the same on every backend.

mod backoff;
mod events;
mod reflector;
mod snapshot;
mod watcher;

pub use events::{CacheEvent, CacheEvents};
pub use reflector::Cache;
pub use watcher::{Watcher, WatcherConfig, WatcherEvent};
