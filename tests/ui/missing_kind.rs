use kvstore::{Object, ObjectMeta};

#[derive(Clone, Object)]
#[object(api_version = "v1")]
struct User {
    metadata: ObjectMeta,
}

fn main() {}
