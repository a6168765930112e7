use kvstore::Object;

#[derive(Clone, Object)]
#[object(kind = "Color")]
enum Color {
    Red,
}

fn main() {}
