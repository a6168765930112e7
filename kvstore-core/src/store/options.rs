//! Options of store operations.

use uuid::Uuid;

use super::selection::Selection;
use crate::field_selector::FieldSelector;
use crate::lease::LeaseId;
use crate::resource_version::ResourceVersion;
use crate::selector::LabelSelector;

/// Options of a create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// Attach the object to this lease: it is deleted when the lease expires or is revoked
    /// (grant one with [`Store::lease_grant`](crate::Store::lease_grant), keep it alive with a
    /// [`Session`](crate::coordination::Session)).
    pub lease: Option<LeaseId>,
}

impl CreateOptions {
    /// Attached to `lease`.
    pub fn lease(lease: LeaseId) -> Self {
        CreateOptions { lease: Some(lease) }
    }
}

/// Options of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// At most this many objects per page; `None` reads everything.
    pub limit: Option<usize>,
    /// The token from the previous page's [`ListMeta`](crate::ListMeta).
    pub continue_token: Option<String>,
    /// Which objects to list.
    pub selection: Selection,
}

impl ListOptions {
    /// Pages of at most `limit` objects.
    pub fn limit(limit: usize) -> Self {
        ListOptions {
            limit: Some(limit),
            ..Self::default()
        }
    }
    /// Continues from the token of a previous page, builder style.
    pub fn continue_from(mut self, token: impl Into<String>) -> Self {
        self.continue_token = Some(token.into());
        self
    }
    /// Lists only what `selection` selects, builder style.
    pub fn select(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }
    /// Filters by labels, builder style.
    pub fn labels(mut self, selector: LabelSelector) -> Self {
        self.selection.labels = Some(selector);
        self
    }
    /// Filters by fields, builder style.
    pub fn fields(mut self, selector: FieldSelector) -> Self {
        self.selection.fields = Some(selector);
        self
    }
}

/// Conditions a delete checks before deleting; a failed one gives
/// [`Error::Conflict`](crate::Error::Conflict).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// The object must still be at this resource version.
    pub resource_version: Option<ResourceVersion>,
    /// The object must have this uid (it was not deleted and re-created meanwhile).
    pub uid: Option<Uuid>,
}

impl Preconditions {
    /// No precondition.
    pub fn none() -> Self {
        Self::default()
    }
    /// The object must be at `resource_version`.
    pub fn resource_version(resource_version: ResourceVersion) -> Self {
        Preconditions {
            resource_version: Some(resource_version),
            uid: None,
        }
    }
    /// The object must have `uid`.
    pub fn uid(uid: Uuid) -> Self {
        Preconditions {
            resource_version: None,
            uid: Some(uid),
        }
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WatchFrom {
    /// Only changes made after the watch starts.
    #[default]
    Now,
    /// Every change after this resource version (exclusive). Version 0 is no store revision:
    /// it means [`WatchFrom::InitialState`], as the Go libraries' `PrefixWatch(key, "0")` did.
    Version(ResourceVersion),
    /// An [`Added`](crate::WatchEvent::Added) event per current object, then
    /// [`WatchEvent::InitialStateDone`](crate::WatchEvent::InitialStateDone), then changes.
    InitialState,
}

impl WatchFrom {
    /// The start point a watch uses: resource version 0 is the initial state.
    pub(crate) fn resolve(self) -> WatchFrom {
        match self {
            WatchFrom::Version(ResourceVersion::ZERO) => WatchFrom::InitialState,
            other => other,
        }
    }
}

impl From<ResourceVersion> for WatchFrom {
    fn from(resource_version: ResourceVersion) -> Self {
        WatchFrom::Version(resource_version)
    }
}

/// Options of a watch ([`Store::watch_prefix_with`](crate::Store::watch_prefix_with),
/// [`Collection::watch`](crate::Collection::watch)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Where the watch starts.
    pub from: WatchFrom,
    /// Which objects to watch: one that stops matching is reported
    /// [`Deleted`](crate::WatchEvent::Deleted), one that starts matching
    /// [`Added`](crate::WatchEvent::Added).
    pub selection: Selection,
    /// Also deliver [`WatchEvent::Bookmark`](crate::WatchEvent::Bookmark)s: the resource
    /// version the watch has got to when nothing under the prefix changed.
    pub bookmarks: bool,
}

impl WatchOptions {
    /// A watch starting `from`, of everything, without bookmarks.
    pub fn starting(from: impl Into<WatchFrom>) -> Self {
        WatchOptions {
            from: from.into(),
            ..WatchOptions::default()
        }
    }
    /// Watches only what `selection` selects, builder style.
    pub fn select(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }
    /// Also delivers bookmarks, builder style.
    pub fn with_bookmarks(mut self) -> Self {
        self.bookmarks = true;
        self
    }
}
