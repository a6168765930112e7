//! `#[derive(Object)]`: what it generates, and the mistakes it refuses to compile.

use kvstore::{Object, ObjectMeta, TypeMeta};

#[derive(Clone, Object)]
#[object(kind = "User", api_version = "example.com/v1")]
struct User {
    metadata: ObjectMeta,
}

#[derive(Clone, Object)]
#[object(kind = "Node")]
struct Node {
    #[object(metadata)]
    meta: ObjectMeta,
    #[allow(dead_code)]
    metadata: String,
}

#[derive(Clone, Object)]
#[object(kind = "Wrapper")]
struct Wrapper<T: Clone + Send + Sync + 'static> {
    metadata: ObjectMeta,
    #[allow(dead_code)]
    inner: T,
}

#[test]
fn derives_kind_api_version_and_metadata_access() {
    assert_eq!(User::type_meta(), TypeMeta::new("User", "example.com/v1"));
    let mut user = User {
        metadata: ObjectMeta::named("alice"),
    };
    user.metadata_mut().name = "bob".into();
    assert_eq!(user.metadata().name, "bob");
}

#[test]
fn api_version_defaults_to_v1_and_metadata_field_can_be_marked() {
    assert_eq!(Node::API_VERSION, "v1");
    let node = Node {
        meta: ObjectMeta::named("n1"),
        metadata: "not the metadata".into(),
    };
    assert_eq!(node.metadata().name, "n1");
    assert_eq!(Wrapper::<u8>::KIND, "Wrapper");
}

#[test]
fn obvious_mistakes_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
