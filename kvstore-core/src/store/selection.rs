//! [`Selection`]: which objects a list, watch, watcher or cache is about.

use crate::field_selector::FieldSelector;
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::scheme::DynObject;
use crate::selector::LabelSelector;

/// What a selector needs of an object: its metadata and its selectable fields.
pub(crate) trait Selectable {
    fn meta(&self) -> &ObjectMeta;
    fn field_value(&self, name: &str) -> Option<String>;
}

impl<K: Object> Selectable for K {
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
    fn field_value(&self, name: &str) -> Option<String> {
        self.field(name)
    }
}

impl Selectable for DynObject {
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
    fn field_value(&self, name: &str) -> Option<String> {
        self.field(name)
    }
}

/// Which objects an operation is about: those whose labels match a [`LabelSelector`] and whose
/// fields match a [`FieldSelector`], each optional; every object when neither is set (the
/// default). The same type selects for [`ListOptions`](crate::ListOptions),
/// [`WatchOptions`](crate::WatchOptions), [`WatcherConfig`](crate::WatcherConfig) and so caches.
///
/// ```
/// use kvstore_core::{LabelSelector, Selection};
/// let admins = Selection::labels("role=admin".parse::<LabelSelector>()?);
/// assert!(!admins.is_everything());
/// assert!(Selection::default().is_everything());
/// # Ok::<(), kvstore_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only objects whose labels match.
    pub labels: Option<LabelSelector>,
    /// Only objects whose fields match.
    pub fields: Option<FieldSelector>,
}

impl Selection {
    /// The objects whose labels match `selector`.
    pub fn labels(selector: LabelSelector) -> Self {
        Selection {
            labels: Some(selector),
            fields: None,
        }
    }

    /// The objects whose fields match `selector`.
    pub fn fields(selector: FieldSelector) -> Self {
        Selection {
            labels: None,
            fields: Some(selector),
        }
    }

    /// Also requires the fields to match `selector`, builder style.
    pub fn and_fields(mut self, selector: FieldSelector) -> Self {
        self.fields = Some(selector);
        self
    }

    /// Also requires the labels to match `selector`, builder style.
    pub fn and_labels(mut self, selector: LabelSelector) -> Self {
        self.labels = Some(selector);
        self
    }

    /// Whether it selects every object.
    pub fn is_everything(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// Whether `object` is selected.
    pub fn matches<K: Object>(&self, object: &K) -> bool {
        self.admits(object)
    }

    pub(crate) fn admits(&self, object: &impl Selectable) -> bool {
        let meta = object.meta();
        self.labels
            .as_ref()
            .is_none_or(|labels| labels.matches(&meta.labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|fields| fields.matches_parts(meta, |name| object.field_value(name)))
    }
}
