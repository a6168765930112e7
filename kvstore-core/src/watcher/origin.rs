//! What a [`Watcher`](super::Watcher) watches, and how to read it directly: what a cache fed
//! by the watcher falls back on for consistent reads, whatever shape the watcher's stream was
//! given.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::backend::Backend;
use crate::codec::CodecFor;
use crate::error::Result;
use crate::object::Object;
use crate::store::{ListOptions, Selection, Store};

/// Reads of the watched prefix as the watcher's selection sees them: one object by name
/// (`Some`), or every object (`None`), each with its name below the prefix.
pub(crate) type DirectRead<K> =
    Arc<dyn Fn(Option<String>) -> BoxFuture<'static, Result<Vec<(String, K)>>> + Send + Sync>;

/// The store, prefix and selection a watcher watches.
pub(crate) struct Origin<K> {
    /// The store's backend (for revision probes and bookmark requests).
    pub(crate) backend: Arc<dyn Backend>,
    /// The watched prefix.
    pub(crate) prefix: String,
    /// Reads of it.
    pub(crate) read: DirectRead<K>,
}

impl<K: Object> Origin<K> {
    pub(crate) fn new<C: CodecFor<K>>(
        store: &Store<C>,
        prefix: &str,
        selection: &Selection,
        page_size: usize,
    ) -> Self {
        Origin {
            backend: Arc::clone(store.backend()),
            prefix: prefix.to_owned(),
            read: direct_read(store, prefix, selection, page_size),
        }
    }
}

fn direct_read<C: CodecFor<K>, K: Object>(
    store: &Store<C>,
    prefix: &str,
    selection: &Selection,
    page_size: usize,
) -> DirectRead<K> {
    let store = store.clone();
    let prefix = prefix.to_owned();
    let selection = selection.clone();
    Arc::new(move |name: Option<String>| {
        let (store, prefix, selection) = (store.clone(), prefix.clone(), selection.clone());
        async move {
            if let Some(name) = name {
                let key = format!("{prefix}/{name}");
                return match store.get::<K>(&key).await {
                    Ok(object) if selection.matches(&object) => Ok(vec![(name, object)]),
                    Ok(_) => Ok(Vec::new()),
                    Err(err) if err.is_not_found() => Ok(Vec::new()),
                    Err(err) => Err(err),
                };
            }
            let mut options = ListOptions {
                limit: Some(page_size),
                continue_token: None,
                selection,
            };
            let directory = format!("{prefix}/");
            let mut all = Vec::new();
            loop {
                let page = store.list_keyed::<K>(&prefix, &options).await?;
                all.extend(page.items.into_iter().map(|(key, object)| {
                    let name = key.strip_prefix(&directory).unwrap_or(&key).to_owned();
                    (name, object)
                }));
                match page.metadata.continue_token {
                    Some(token) => options.continue_token = Some(token),
                    None => return Ok(all),
                }
            }
        }
        .boxed()
    })
}
