//! Options of store operations.

use uuid::Uuid;

use crate::field_selector::FieldSelector;
use crate::lease::LeaseId;
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
    /// Only objects whose labels match.
    pub label_selector: Option<LabelSelector>,
    /// Only objects whose fields match.
    pub field_selector: Option<FieldSelector>,
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
    /// Filters by labels, builder style.
    pub fn selector(mut self, selector: LabelSelector) -> Self {
        self.label_selector = Some(selector);
        self
    }
    /// Filters by fields, builder style.
    pub fn fields(mut self, selector: FieldSelector) -> Self {
        self.field_selector = Some(selector);
        self
    }
}

/// Conditions a delete checks before deleting; a failed one gives
/// [`Error::Conflict`](crate::Error::Conflict).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// The object must still be at this resource version.
    pub resource_version: Option<String>,
    /// The object must have this uid (it was not deleted and re-created meanwhile).
    pub uid: Option<Uuid>,
}

impl Preconditions {
    /// No precondition.
    pub fn none() -> Self {
        Self::default()
    }
    /// The object must be at `resource_version`.
    pub fn resource_version(resource_version: impl Into<String>) -> Self {
        Preconditions {
            resource_version: Some(resource_version.into()),
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
    /// Every change after this resource version (exclusive). `"0"` is no store revision: it
    /// means [`WatchFrom::InitialState`], as the Go libraries' `PrefixWatch(key, "0")` did.
    Version(String),
    /// A `Created` event per current object, then
    /// [`WatchEvent::InitialStateDone`](crate::WatchEvent::InitialStateDone), then changes.
    InitialState,
}

impl WatchFrom {
    /// The start point a watch uses: resource version `"0"` is the initial state.
    pub(crate) fn resolve(self) -> WatchFrom {
        match self {
            WatchFrom::Version(rv) if rv == "0" => WatchFrom::InitialState,
            other => other,
        }
    }
}

/// Options of [`Store::watch_prefix_with`](crate::Store::watch_prefix_with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Where the watch starts.
    pub from: WatchFrom,
    /// Only objects whose labels match.
    pub label_selector: Option<LabelSelector>,
    /// Only objects whose fields match.
    pub field_selector: Option<FieldSelector>,
    /// Also deliver [`WatchEvent::Bookmark`](crate::WatchEvent::Bookmark)s: the resource
    /// version the watch has got to when nothing under the prefix changed.
    pub bookmarks: bool,
}
