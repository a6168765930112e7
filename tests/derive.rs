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

#[derive(Clone, Object)]
#[object(kind = "Pod")]
struct Pod {
    metadata: ObjectMeta,
    #[object(selectable)]
    node: String,
    #[object(selectable)]
    replicas: u32,
    #[allow(dead_code)]
    image: String,
}

#[test]
fn selectable_fields_answer_field_selectors() {
    let pod = Pod {
        metadata: ObjectMeta::named("web"),
        node: "n1".into(),
        replicas: 3,
        image: "nginx".into(),
    };
    assert_eq!(pod.field("node").as_deref(), Some("n1"));
    assert_eq!(pod.field("replicas").as_deref(), Some("3"));
    assert_eq!(pod.field("image"), None, "not marked selectable");
    let selector: kvstore::FieldSelector = "metadata.name=web,node=n1,replicas!=4".parse().unwrap();
    assert!(selector.matches(&pod));
    assert!(!"image=nginx"
        .parse::<kvstore::FieldSelector>()
        .unwrap()
        .matches(&pod));
    assert_eq!(
        User {
            metadata: ObjectMeta::named("u")
        }
        .field("metadata"),
        None
    );
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
