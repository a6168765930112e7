use kvstore::Object;

#[derive(Clone, Object)]
#[object(kind = "User")]
struct User {
    name: String,
}

fn main() {}
