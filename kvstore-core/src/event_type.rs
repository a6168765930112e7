//! [`EventType`]: the one vocabulary of change, from backend events to cache events.

/// What happened to an object (or a key): the words every layer uses — a backend's watch
/// events, the typed [`WatchEvent`](crate::WatchEvent), the [`Watcher`](crate::Watcher)'s
/// and the cache's [`CacheEvent`](crate::CacheEvent) — as Kubernetes' watch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// It appeared: created, or (through a selection) began to be selected, or part of an
    /// initial state.
    Added,
    /// It was written again.
    Modified,
    /// It went away: deleted, expired with its lease, or no longer selected.
    Deleted,
}
