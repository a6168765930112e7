//! A kind for this crate's unit tests.

use crate::meta::ObjectMeta;
use crate::object::Object;

/// A pod on a node, its node a selectable field.
#[derive(Clone, Debug)]
pub(crate) struct Pod {
    pub(crate) metadata: ObjectMeta,
    pub(crate) node: String,
}

impl Object for Pod {
    const KIND: &'static str = "Pod";
    const API_VERSION: &'static str = "v1";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn field(&self, name: &str) -> Option<String> {
        (name == "node").then(|| self.node.clone())
    }
}

/// The pod `name` on `node`.
pub(crate) fn pod(name: &str, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name),
        node: node.to_owned(),
    }
}
