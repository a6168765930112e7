use kvstore::Object;

#[derive(Clone, Object)]
#[object(kind = "User")]
struct User {
    metadata: String,
}

fn main() {}
