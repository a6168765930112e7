//! List: every object under a prefix, paginated, at one snapshot revision.

use tracing::instrument;

use super::continue_token::ContinueToken;
use super::options::ListOptions;
use super::selection::Selectable;
use super::Store;
use crate::backend::{KeyValue, RangeRequest};
use crate::codec::{Codec, CodecFor};
use crate::error::Result;
use crate::key::{directory_range, validate_key};
use crate::meta::ListMeta;
use crate::object::{Object, ObjectList};
use crate::resource_version::ResourceVersion;
use crate::scheme::DynObject;

/// Keys read per round trip when a label selector may filter most of them out.
const SELECTOR_BATCH: usize = 256;

impl<C: Codec> Store<C> {
    /// Lists the objects of kind `K` under the directory `prefix`, ordered by key.
    ///
    /// Every page is read at the first page's revision (a consistent snapshot), which is the
    /// list's resource version. A missing prefix gives an empty list. A value that does not
    /// decode as `K` fails the whole list with an error naming its key.
    #[instrument(level = "debug", skip(self, options), fields(kind = K::KIND))]
    pub async fn list<K: Object>(
        &self,
        prefix: &str,
        options: &ListOptions,
    ) -> Result<ObjectList<K>>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("list", K::KIND, async {
            let (list, _) = self
                .list_with_revision(prefix, options, |kv| self.decode::<K>(kv), |o| o)
                .await?;
            Ok(list)
        })
        .await
    }

    /// Lists objects of any registered kind under `prefix`, decoded through the
    /// [`Scheme`](crate::Scheme).
    #[instrument(level = "debug", skip(self, options))]
    pub async fn list_dynamic(
        &self,
        prefix: &str,
        options: &ListOptions,
    ) -> Result<ObjectList<DynObject>> {
        crate::metrics::measured("list", "-", async {
            let (list, _) = self
                .list_with_revision(prefix, options, |kv| self.decode_dynamic(kv), |o| o)
                .await?;
            Ok(list)
        })
        .await
    }

    /// [`Store::list`] with each object's key: what a consumer keeping its own copy of a
    /// prefix needs (the [`Watcher`](crate::Watcher) is built on it).
    #[instrument(level = "debug", skip(self, options), fields(kind = K::KIND))]
    pub async fn list_keyed<K: Object>(
        &self,
        prefix: &str,
        options: &ListOptions,
    ) -> Result<ObjectList<(String, K)>>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("list", K::KIND, async {
            let decode = |kv: &KeyValue| Ok((kv.key.clone(), self.decode::<K>(kv)?));
            let (list, _) = self
                .list_with_revision(prefix, options, decode, |(_, o)| o)
                .await?;
            Ok(list)
        })
        .await
    }

    /// A page of what `decode` makes of the values under `prefix`, and the revision it was
    /// read at (the list's resource version).
    pub(crate) async fn list_with_revision<T, S: Selectable>(
        &self,
        prefix: &str,
        options: &ListOptions,
        decode: impl Fn(&KeyValue) -> Result<T>,
        selectable: impl Fn(&T) -> &S,
    ) -> Result<(ObjectList<T>, u64)> {
        validate_key(prefix)?;
        let (range_start, range_end) = directory_range(prefix);
        let (mut revision, mut start) = match &options.continue_token {
            Some(token) => {
                let token = ContinueToken::decode(token, &range_start, &range_end)?;
                (token.revision, token.start)
            }
            None => (0, range_start),
        };
        let limit = options.limit.filter(|&l| l > 0);
        let selection = &options.selection;
        let selector = (!selection.is_everything()).then_some(selection);
        let mut items = Vec::new();
        let next_start = loop {
            let remaining = limit.map_or(0, |l| l - items.len());
            let batch = match selector {
                Some(_) if remaining > 0 => remaining.max(SELECTOR_BATCH),
                _ => remaining,
            };
            let response = self
                .inner
                .backend
                .range(RangeRequest {
                    key: start.clone(),
                    range_end: Some(range_end.clone()),
                    limit: batch,
                    revision,
                })
                .await?;
            if revision == 0 {
                revision = response.revision;
            }
            let mut processed = 0;
            if selector.is_none() {
                // One allocation for the page (growing a large Vec copies and faults in pages).
                items.reserve(response.kvs.len());
            }
            for kv in &response.kvs {
                let object = decode(kv)?;
                processed += 1;
                if selector.is_none_or(|s| s.admits(selectable(&object))) {
                    items.push(object);
                    if limit == Some(items.len()) {
                        break;
                    }
                }
            }
            let left_in_page = processed < response.kvs.len();
            let next = match response.kvs.get(processed.wrapping_sub(1)) {
                Some(last) if left_in_page || response.more => Some(format!("{}\0", last.key)),
                _ => None,
            };
            match next {
                Some(next) if limit == Some(items.len()) => break Some(next),
                Some(next) => start = next,
                None => break None,
            }
        };
        let list = ObjectList {
            metadata: ListMeta {
                resource_version: ResourceVersion::of(revision),
                continue_token: next_start.map(|start| ContinueToken { revision, start }.encode()),
            },
            items,
        };
        Ok((list, revision))
    }
}
