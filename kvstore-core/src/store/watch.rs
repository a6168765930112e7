//! Watch: a typed stream of changes under a key or a prefix.

use futures::stream::{self, BoxStream, StreamExt};
use tracing::instrument;

use super::options::{ListOptions, WatchFrom, WatchOptions};
use super::{parse_resource_version, set_resource_version, Selection, Store};
use crate::backend::{self, EventKind, RangeRequest, WatchItem, WatchRequest};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::{directory_range, validate_key};
use crate::object::Object;

/// Objects read per page when a watch sends the initial state of a prefix.
const INITIAL_STATE_PAGE: usize = 1000;

/// One change of a watched object.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<K> {
    /// The object was created (or, with [`WatchFrom::InitialState`], existed when the watch began).
    Created(K),
    /// The object was replaced.
    Updated(K),
    /// The object was deleted; this is its last state, with the delete's resource version.
    Deleted(K),
    /// With [`WatchFrom::InitialState`]: every current object has been sent; the changes
    /// that follow come after this resource version.
    InitialStateDone {
        /// The revision the initial state was read at.
        resource_version: String,
    },
    /// With [`WatchOptions::bookmarks`]: every change up to this resource version has been
    /// delivered, though writes up to it may have touched nothing watched. Resume from here.
    Bookmark {
        /// The revision the watch has got to.
        resource_version: String,
    },
}

impl<K: Object> WatchEvent<K> {
    /// The object the event is about (`None` for the initial-state marker and bookmarks).
    pub fn object(&self) -> Option<&K> {
        match self {
            WatchEvent::Created(o) | WatchEvent::Updated(o) | WatchEvent::Deleted(o) => Some(o),
            WatchEvent::InitialStateDone { .. } | WatchEvent::Bookmark { .. } => None,
        }
    }

    /// The resource version the event happened at.
    pub fn resource_version(&self) -> Option<&str> {
        match self {
            WatchEvent::InitialStateDone { resource_version }
            | WatchEvent::Bookmark { resource_version } => Some(resource_version),
            other => other
                .object()
                .and_then(|o| o.metadata().resource_version.as_deref()),
        }
    }
}

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
                    .map(|kv| self.decode::<K>(kv))
                    .collect::<Result<Vec<_>>>()?;
                Some((objects, response.revision))
            }
            _ => None,
        };
        let everything = Selection::default();
        self.watch_range(key.to_owned(), None, from, initial, everything, false)
            .await
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
        let options = WatchOptions {
            from,
            ..WatchOptions::default()
        };
        self.watch_prefix_with(prefix, &options).await
    }

    /// [`Store::watch_prefix`] of the objects a label and a field selector select (pensando's
    /// `WatchFiltered`). The selection stays exact as objects change: an object that stops
    /// matching is reported as [`WatchEvent::Deleted`] (as it now is), one that starts matching
    /// as [`WatchEvent::Created`], and changes outside the selection are not reported.
    #[instrument(level = "debug", skip(self, options), fields(kind = K::KIND))]
    pub async fn watch_prefix_with<K: Object>(
        &self,
        prefix: &str,
        options: &WatchOptions,
    ) -> Result<WatchStream<K>>
    where
        C: CodecFor<K>,
    {
        validate_key(prefix)?;
        let selection = Selection::new(
            options.label_selector.as_ref(),
            options.field_selector.as_ref(),
        );
        let from = options.from.clone().resolve();
        let initial = match from {
            WatchFrom::InitialState => {
                let (objects, revision) = self.list_everything::<K>(prefix).await?;
                let objects = objects
                    .into_iter()
                    .filter(|o| selection.admits(o))
                    .collect();
                Some((objects, revision))
            }
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

    /// Every object under `prefix`, page by page at one revision.
    async fn list_everything<K: Object>(&self, prefix: &str) -> Result<(Vec<K>, u64)>
    where
        C: CodecFor<K>,
    {
        let mut objects = Vec::new();
        let mut options = ListOptions::limit(INITIAL_STATE_PAGE);
        loop {
            let page = self.list::<K>(prefix, &options).await?;
            let revision = parse_resource_version(&page.metadata.resource_version)?;
            let next = page.metadata.continue_token;
            objects.extend(page.items);
            match next {
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
        initial: Option<(Vec<K>, u64)>,
        selection: Selection,
        bookmarks: bool,
    ) -> Result<WatchStream<K>>
    where
        C: CodecFor<K>,
    {
        let start_revision = match (&from, &initial) {
            (WatchFrom::Now, _) => 0,
            (WatchFrom::Version(rv), _) => {
                parse_resource_version(rv)?.checked_add(1).ok_or_else(|| {
                    Error::InvalidArgument(format!("resource version {rv} is too large"))
                })?
            }
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
        let changes = changes.filter_map(move |item| {
            let typed = item.and_then(|item| match item {
                WatchItem::Event(e) => store.typed_event::<K>(e, &selection),
                WatchItem::Progress(revision) => Ok(bookmarks.then(|| bookmark(revision))),
            });
            std::future::ready(typed.transpose())
        });
        Ok(match initial {
            None => changes.boxed(),
            Some((objects, revision)) => {
                stream::iter(objects.into_iter().map(|o| Ok(WatchEvent::Created(o))))
                    .chain(stream::once(async move {
                        Ok(WatchEvent::InitialStateDone {
                            resource_version: revision.to_string(),
                        })
                    }))
                    .chain(changes)
                    .boxed()
            }
        })
    }

    /// Changes under `prefix` after revision `after`, each with its key, and bookmarks (for the
    /// watcher and cache; a bookmark's key is empty). An undecodable value is an error item
    /// naming the key, and the stream goes on.
    pub(crate) async fn watch_prefix_keyed<K: Object>(
        &self,
        prefix: &str,
        after: u64,
        selection: Selection,
    ) -> Result<BoxStream<'static, Result<(String, WatchEvent<K>)>>>
    where
        C: CodecFor<K>,
    {
        validate_key(prefix)?;
        let (key, range_end) = directory_range(prefix);
        let changes = self
            .inner
            .backend
            .watch(WatchRequest {
                key,
                range_end: Some(range_end),
                start_revision: after.saturating_add(1),
            })
            .await?;
        let store = self.clone();
        Ok(changes
            .filter_map(move |item| {
                let typed = item.and_then(|item| match item {
                    WatchItem::Event(e) => {
                        let key = e.kv.key.clone();
                        Ok(store
                            .typed_event::<K>(e, &selection)?
                            .map(|event| (key, event)))
                    }
                    WatchItem::Progress(revision) => Ok(Some((String::new(), bookmark(revision)))),
                });
                std::future::ready(typed.transpose())
            })
            .boxed())
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
            EventKind::Put => {
                let object = self.decode::<K>(&event.kv)?;
                let created = event.kv.create_revision == event.kv.mod_revision;
                if selection.is_everything() {
                    return Ok(Some(match created {
                        true => WatchEvent::Created(object),
                        false => WatchEvent::Updated(object),
                    }));
                }
                // Whether the object was selected before: its previous value (one that does
                // not decode as `K` was not).
                let before = !created
                    && event
                        .prev_kv
                        .as_ref()
                        .and_then(|prev| self.decode::<K>(prev).ok())
                        .is_some_and(|prev| selection.admits(&prev));
                Ok(match (before, selection.admits(&object)) {
                    (true, true) => Some(WatchEvent::Updated(object)),
                    (false, true) => Some(WatchEvent::Created(object)),
                    (true, false) => Some(WatchEvent::Deleted(object)),
                    (false, false) => None,
                })
            }
            EventKind::Delete => {
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

/// The bookmark of a watch that has got to `revision`.
fn bookmark<K>(revision: u64) -> WatchEvent<K> {
    WatchEvent::Bookmark {
        resource_version: revision.to_string(),
    }
}
