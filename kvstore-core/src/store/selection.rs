//! Which objects a list, watch or watcher is about: a label and a field selector together.

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

/// A label and a field selector, both optional; everything when neither is set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selection {
    pub(crate) fn new(labels: Option<&LabelSelector>, fields: Option<&FieldSelector>) -> Self {
        Selection {
            labels: labels.cloned(),
            fields: fields.cloned(),
        }
    }

    pub(crate) fn is_everything(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
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
