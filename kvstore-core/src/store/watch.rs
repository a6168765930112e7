//! Watch: a typed stream of changes under a key or a prefix.

use futures::stream::{self, BoxStream, StreamExt};
use tracing::instrument;

use super::options::{ListOptions, WatchFrom, WatchOptions};
use super::{revision_after, set_resource_version, Selection, Store};
use crate::backend::{self, EventType, KeyValue, RangeRequest, WatchItem, WatchRequest};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::{directory_range, validate_key};
use crate::object::Object;
use crate::resource_version::ResourceVersion;

/// Objects read per page when a watch sends the initial state of a prefix.
const INITIAL_STATE_PAGE: usize = 1000;

/// One change of a watched object, in the words every layer uses ([`EventType`]).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<K> {
    /// The object was created, began to be selected, or (with [`WatchFrom::InitialState`])
    /// existed when the watch began.
    Added(K),
    /// The object was written again.
    Modified(K),
    /// The object was deleted, or stopped being selected; this is its last state, with the
    /// resource version of the change.
    Deleted(K),
    /// With [`WatchFrom::InitialState`]: every current object has been sent; the changes
    /// that follow come after this resource version.
    InitialStateDone(ResourceVersion),
    /// With [`WatchOptions::bookmarks`]: every change up to this resource version has been
    /// delivered, though writes up to it may have touched nothing watched. Resume from here.
    Bookmark(ResourceVersion),
}

impl<K: Object> WatchEvent<K> {
    /// The object the event is about (`None` for the initial-state marker and bookmarks).
    pub fn object(&self) -> Option<&K> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
            WatchEvent::InitialStateDone(_) | WatchEvent::Bookmark(_) => None,
        }
    }

    /// The object the event is about, owned.
    pub fn into_object(self) -> Option<K> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
            WatchEvent::InitialStateDone(_) | WatchEvent::Bookmark(_) => None,
        }
    }

    /// What happened to the object (`None` for the initial-state marker and bookmarks).
    pub fn event_type(&self) -> Option<EventType> {
        match self {
            WatchEvent::Added(_) => Some(EventType::Added),
            WatchEvent::Modified(_) => Some(EventType::Modified),
            WatchEvent::Deleted(_) => Some(EventType::Deleted),
            WatchEvent::InitialStateDone(_) | WatchEvent::Bookmark(_) => None,
        }
    }

    /// The resource version the event happened at (an object's, from its metadata).
    pub fn resource_version(&self) -> Option<ResourceVersion> {
        match self {
            WatchEvent::InitialStateDone(rv) | WatchEvent::Bookmark(rv) => Some(*rv),
            other => other.object().and_then(|o| o.metadata().version()),
        }
    }

    /// The event of `object` of type `kind`.
    pub(crate) fn of(kind: EventType, object: K) -> Self {
        match kind {
            EventType::Added => WatchEvent::Added(object),
            EventType::Modified => WatchEvent::Modified(object),
            EventType::Deleted => WatchEvent::Deleted(object),
        }
    }
}

/// A typed change with the key it happened at and its resource version, as
/// [`Store::watch_prefix_keyed`] delivers it: what a consumer needs to keep its own copy of a
/// prefix (the [`Watcher`](crate::Watcher) and [`Cache`](crate::Cache) are built on it). The
/// markers ([`WatchEvent::InitialStateDone`], [`WatchEvent::Bookmark`]) have an empty key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedEvent<K> {
    /// The object's key (empty for the markers).
    pub key: String,
    /// The revision of the change (of the marker).
    pub resource_version: ResourceVersion,
    /// The change.
    pub event: WatchEvent<K>,
}

/// A stream of [`KeyedEvent`]s, with the guarantees of a [`WatchStream`].
pub type KeyedWatchStream<K> = BoxStream<'static, Result<KeyedEvent<K>>>;

/// A stream of typed changes in revision order; each change appears exactly once.
///
/// An error item is followed by the end of the stream when the watch itself failed
/// ([`Error::Gone`]: re-list; [`Error::Unavailable`]: resume from the last resource version);
/// a value that does not decode is reported as an error item naming its key and the stream
/// goes on.
pub type WatchStream<K> = BoxStream<'static, Result<WatchEvent<K>>>;

impl<C: Codec> Store<C> {
    /// Watches the single key `key`.
    #[instrument(level = "debug", skip(self), fields(kind = K::KIND))]
    pub async fn watch<K: Object>(&self, key: &str, from: WatchFrom) -> Result<WatchStream<K>>
    where
        C: CodecFor<K>,
    {
        validate_key(key)?;
        let from = from.resolve();
        let initial = match from {
            WatchFrom::InitialState => {
                let response = self.inner.backend.range(RangeRequest::key(key)).await?;
                let objects = response
                    .kvs
                    .iter()
                    .map(|kv| Ok((kv.key.clone(), kv.mod_revision, self.decode::<K>(kv)?)))
                    .collect::<Result<Vec<_>>>()?;
                Some((objects, response.revision))
            }
            _ => None,
        };
        let changes = self
            .watch_range(
                key.to_owned(),
                None,
                from,
                initial,
                Selection::default(),
                false,
            )
            .await?;
        Ok(changes.map(|item| item.map(|keyed| keyed.event)).boxed())
    }

    /// Watches every key under the directory `prefix` (never its siblings such as
    /// `/users2` for `/users`).
    #[instrument(level = "debug", skip(self), fields(kind = K::KIND))]
    pub async fn watch_prefix<K: Object>(
        &self,
        prefix: &str,
        from: WatchFrom,
    ) -> Result<WatchStream<K>>
    where
        C: CodecFor<K>,
    {
        self.watch_prefix_with(prefix, &WatchOptions::starting(from))
            .await
    }

    /// [`Store::watch_prefix`] with options: a [`Selection`](crate::Selection) (pensando's
    /// `WatchFiltered`) and bookmarks. The selection stays exact as objects change: an object
    /// that stops matching is reported as [`WatchEvent::Deleted`] (as it now is), one that
    /// starts matching as [`WatchEvent::Added`], and changes outside the selection are not
    /// reported.
    #[instrument(level = "debug", skip(self, options), fields(kind = K::KIND))]
    pub async fn watch_prefix_with<K: Object>(
        &self,
        prefix: &str,
        options: &WatchOptions,
    ) -> Result<WatchStream<K>>
    where
        C: CodecFor<K>,
    {
        let changes = self.watch_prefix_keyed(prefix, options).await?;
        Ok(changes.map(|item| item.map(|keyed| keyed.event)).boxed())
    }

    /// [`Store::watch_prefix_with`], each change with its key and resource version.
    #[instrument(level = "debug", skip(self, options), fields(kind = K::KIND))]
    pub async fn watch_prefix_keyed<K: Object>(
        &self,
        prefix: &str,
        options: &WatchOptions,
    ) -> Result<KeyedWatchStream<K>>
    where
        C: CodecFor<K>,
    {
        validate_key(prefix)?;
        let selection = options.selection.clone();
        let from = options.from.clone().resolve();
        let initial = match from {
            WatchFrom::InitialState => Some(self.list_everything::<K>(prefix, &selection).await?),
            _ => None,
        };
        let (start, end) = directory_range(prefix);
        self.watch_range(
            start,
            Some(end),
            from,
            initial,
            selection,
            options.bookmarks,
        )
        .await
    }

    /// Every change under `prefix` after `resource_version` — version 0 included, which here
    /// is the revision of an empty store's list, not the initial state: what a watcher resumes
    /// after its list with (every change, none merged into a current object).
    pub(crate) async fn watch_prefix_after<K: Object>(
        &self,
        prefix: &str,
        resource_version: ResourceVersion,
        selection: Selection,
        bookmarks: bool,
    ) -> Result<KeyedWatchStream<K>>
    where
        C: CodecFor<K>,
    {
        validate_key(prefix)?;
        let (start, end) = directory_range(prefix);
        self.watch_range(
            start,
            Some(end),
            WatchFrom::Version(resource_version),
            None,
            selection,
            bookmarks,
        )
        .await
    }

    /// Every selected object under `prefix` with its key and revision, page by page at one
    /// revision (returned too).
    async fn list_everything<K: Object>(
        &self,
        prefix: &str,
        selection: &Selection,
    ) -> Result<Initial<K>>
    where
        C: CodecFor<K>,
    {
        let mut objects = Vec::new();
        let mut options = ListOptions::limit(INITIAL_STATE_PAGE).select(selection.clone());
        loop {
            let decode =
                |kv: &KeyValue| Ok((kv.key.clone(), kv.mod_revision, self.decode::<K>(kv)?));
            let (page, revision) = self
                .list_with_revision(prefix, &options, decode, |(_, _, o)| o)
                .await?;
            objects.extend(page.items);
            match page.metadata.continue_token {
                Some(token) => options.continue_token = Some(token),
                None => return Ok((objects, revision)),
            }
        }
    }

    async fn watch_range<K: Object>(
        &self,
        key: String,
        range_end: Option<String>,
        from: WatchFrom,
        initial: Option<Initial<K>>,
        selection: Selection,
        bookmarks: bool,
    ) -> Result<KeyedWatchStream<K>>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("watch", K::KIND, async {
            let start_revision = match (&from, &initial) {
                (WatchFrom::Now, _) => 0,
                (WatchFrom::Version(rv), _) => revision_after(*rv)?,
                (WatchFrom::InitialState, Some((_, revision))) => revision + 1,
                (WatchFrom::InitialState, None) => 0,
            };
            let changes = self
                .inner
                .backend
                .watch(WatchRequest {
                    key,
                    range_end,
                    start_revision,
                })
                .await?;
            let store = self.clone();
            let open = crate::metrics::OpenStream::new(K::KIND);
            let head = std::sync::Arc::clone(&self.inner.head);
            let changes = changes.filter_map(move |item| {
                let typed = item.and_then(|item| match item {
                    WatchItem::Event(e) => {
                        let (key, revision) = (e.kv.key.clone(), e.kv.mod_revision);
                        open.delivered(head.latest().saturating_sub(revision));
                        Ok(store
                            .typed_event::<K>(e, &selection)?
                            .map(|event| keyed(key, revision, event)))
                    }
                    WatchItem::Progress(revision) => Ok(bookmarks.then(|| {
                        keyed(
                            String::new(),
                            revision,
                            WatchEvent::Bookmark(ResourceVersion::of(revision)),
                        )
                    })),
                });
                std::future::ready(typed.transpose())
            });
            Ok(match initial {
                None => changes.boxed(),
                Some((objects, revision)) => {
                    let added = objects
                        .into_iter()
                        .map(|(key, at, o)| Ok(keyed(key, at, WatchEvent::Added(o))));
                    let done = WatchEvent::InitialStateDone(ResourceVersion::of(revision));
                    stream::iter(added)
                        .chain(stream::once(async move {
                            Ok(keyed(String::new(), revision, done))
                        }))
                        .chain(changes)
                        .boxed()
                }
            })
        })
        .await
    }

    /// The typed event for a change, as the selection sees it (`None`: not its business).
    fn typed_event<K: Object>(
        &self,
        event: backend::Event,
        selection: &Selection,
    ) -> Result<Option<WatchEvent<K>>>
    where
        C: CodecFor<K>,
    {
        match event.kind {
            kind @ (EventType::Added | EventType::Modified) => {
                let object = self.decode::<K>(&event.kv)?;
                if selection.is_everything() {
                    return Ok(Some(WatchEvent::of(kind, object)));
                }
                let created = kind == EventType::Added;
                // Whether the object was selected before: its previous value (one that does
                // not decode as `K` was not).
                let before = !created
                    && event
                        .prev_kv
                        .as_ref()
                        .and_then(|prev| self.decode::<K>(prev).ok())
                        .is_some_and(|prev| selection.admits(&prev));
                Ok(match (before, selection.admits(&object)) {
                    (true, true) => Some(WatchEvent::Modified(object)),
                    (false, true) => Some(WatchEvent::Added(object)),
                    (true, false) => Some(WatchEvent::Deleted(object)),
                    (false, false) => None,
                })
            }
            EventType::Deleted => {
                let previous = event.prev_kv.ok_or_else(|| Error::Backend {
                    message: format!("delete event of {} carries no previous value", event.kv.key),
                    source: None,
                })?;
                let mut object = self.decode::<K>(&previous)?;
                if !selection.admits(&object) {
                    return Ok(None);
                }
                set_resource_version(&mut object, event.kv.mod_revision);
                Ok(Some(WatchEvent::Deleted(object)))
            }
        }
    }
}

/// The objects of an initial state, each with its key and revision, and the revision they
/// were read at.
type Initial<K> = (Vec<(String, u64, K)>, u64);

fn keyed<K>(key: String, revision: u64, event: WatchEvent<K>) -> KeyedEvent<K> {
    KeyedEvent {
        key,
        resource_version: ResourceVersion::of(revision),
        event,
    }
}
