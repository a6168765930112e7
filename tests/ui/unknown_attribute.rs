use kvstore::{Object, ObjectMeta};

#[derive(Clone, Object)]
#[object(kind = "User", plural = "users")]
struct User {
    metadata: ObjectMeta,
}

fn main() {}
