//! Registration of kinds and versions: every mistake is refused when it is made.

use super::{Scheme, SchemeError};
use crate::codec::{Codec, CodecError, CodecFor};
use crate::meta::{ObjectMeta, TypeMeta};
use crate::object::Object;

/// A codec these tests never call (registration does not encode).
struct Unused;

impl Codec for Unused {
    fn format(&self) -> &'static str {
        "unused"
    }
    fn type_meta(&self, _: &[u8]) -> Result<TypeMeta, CodecError> {
        Err(CodecError::Encryption("not used by these tests".into()))
    }
}

impl<K: Object> CodecFor<K> for Unused {
    fn encode(&self, _: &K) -> Result<Vec<u8>, CodecError> {
        Err(CodecError::Encryption("not used by these tests".into()))
    }
    fn decode(&self, _: &[u8]) -> Result<K, CodecError> {
        Err(CodecError::Encryption("not used by these tests".into()))
    }
}

macro_rules! kind {
    ($name:ident, $kind:literal, $version:literal) => {
        #[derive(Clone, Debug, Default, PartialEq)]
        struct $name {
            metadata: ObjectMeta,
        }
        impl Object for $name {
            const KIND: &'static str = $kind;
            const API_VERSION: &'static str = $version;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

kind!(V1, "Widget", "example.com/v1");
kind!(V2, "Widget", "example.com/v2");
kind!(OtherV2, "Widget", "example.com/v2");
kind!(V3, "Widget", "example.com/v3");
kind!(OtherGroup, "Widget", "other.com/v1");
kind!(Gadget, "Gadget", "example.com/v1");

macro_rules! convert {
    ($a:ident <-> $b:ident) => {
        impl From<$a> for $b {
            fn from(a: $a) -> Self {
                $b {
                    metadata: a.metadata,
                }
            }
        }
        impl From<$b> for $a {
            fn from(b: $b) -> Self {
                $a {
                    metadata: b.metadata,
                }
            }
        }
    };
}

convert!(V1 <-> V2);
convert!(OtherV2 <-> V2);
convert!(V3 <-> V2);
convert!(OtherGroup <-> V2);
convert!(Gadget <-> V2);

/// The error registering `Hub` with version `V` gives.
fn refused<Hub, V>(scheme: &mut Scheme<Unused>) -> SchemeError
where
    Hub: Object + PartialEq + From<V>,
    V: Object + From<Hub>,
{
    let versions = scheme.versions::<Hub>().version::<V>();
    versions.register().expect_err("refused")
}

fn widget() -> TypeMeta {
    V1::type_meta()
}

#[test]
fn versions_register_with_their_storage_version() {
    let mut scheme = Scheme::<Unused>::new();
    scheme
        .versions::<V2>()
        .version::<V1>()
        .version::<V1>()
        .storage::<V1>()
        .register()
        .unwrap()
        .register::<Gadget>()
        .unwrap();
    assert_eq!(scheme.storage_version(&widget()), Some(&V1::type_meta()));
    assert_eq!(
        scheme.versions_of(&widget()),
        [V2::type_meta(), V1::type_meta()]
    );
    assert!(scheme.recognizes(&V2::type_meta()));
    assert_eq!(scheme.storage_version(&Gadget::type_meta()), None);
    assert!(scheme.versions_of(&Gadget::type_meta()).is_empty());
    // The same type again is harmless.
    scheme
        .register::<V1>()
        .unwrap()
        .register::<Gadget>()
        .unwrap();
}

#[test]
fn the_storage_version_defaults_to_the_hub() {
    let mut scheme = Scheme::<Unused>::new();
    scheme.versions::<V2>().version::<V1>().register().unwrap();
    assert_eq!(scheme.storage_version(&widget()), Some(&V2::type_meta()));
}

#[test]
fn two_types_claiming_one_version_are_refused() {
    let mut scheme = Scheme::<Unused>::new();
    let err = refused::<V2, OtherV2>(&mut scheme);
    assert!(
        matches!(err, SchemeError::DuplicateVersion { ref type_meta, .. } if *type_meta == V2::type_meta()),
        "{err}"
    );
    assert!(err.to_string().contains("OtherV2"), "{err}");

    let mut scheme = Scheme::<Unused>::new();
    scheme.register::<V2>().unwrap();
    let err = scheme.register::<OtherV2>().err().unwrap();
    assert!(matches!(err, SchemeError::DuplicateVersion { .. }), "{err}");

    let mut scheme = Scheme::<Unused>::new();
    scheme.register::<OtherV2>().unwrap();
    let err = refused::<V2, V1>(&mut scheme);
    assert!(matches!(err, SchemeError::DuplicateVersion { .. }), "{err}");
}

#[test]
fn another_kind_or_group_is_no_version() {
    for err in [
        refused::<V2, Gadget>(&mut Scheme::new()),
        refused::<V2, OtherGroup>(&mut Scheme::new()),
    ] {
        assert!(matches!(err, SchemeError::NotAVersion { .. }), "{err}");
    }
}

#[test]
fn a_storage_version_must_be_registered() {
    let err = Scheme::<Unused>::new()
        .versions::<V2>()
        .version::<V1>()
        .storage::<V3>()
        .register()
        .err()
        .unwrap();
    assert_eq!(
        err,
        SchemeError::StorageVersionNotRegistered {
            storage: V3::type_meta()
        }
    );
}

#[test]
fn a_version_without_a_conversion_is_refused() {
    let mut scheme = Scheme::<Unused>::new();
    scheme.register::<V1>().unwrap();
    let err = refused::<V2, V3>(&mut scheme);
    assert_eq!(
        err,
        SchemeError::NoConversion {
            version: V1::type_meta(),
            hub: V2::type_meta()
        }
    );

    let mut scheme = Scheme::<Unused>::new();
    scheme.versions::<V2>().version::<V1>().register().unwrap();
    let err = scheme.register::<V3>().err().unwrap();
    assert_eq!(
        err,
        SchemeError::NoConversion {
            version: V3::type_meta(),
            hub: V2::type_meta()
        }
    );
    assert!(
        !scheme.recognizes(&V3::type_meta()),
        "a refused type is not registered"
    );
}

#[test]
fn the_versions_of_a_kind_register_once() {
    let mut scheme = Scheme::<Unused>::new();
    scheme.versions::<V2>().version::<V1>().register().unwrap();
    let err = refused::<V2, V3>(&mut scheme);
    assert!(
        matches!(err, SchemeError::AlreadyRegistered { .. }),
        "{err}"
    );
    assert!(!scheme.recognizes(&V3::type_meta()));
}

#[test]
fn scheme_errors_become_store_errors() {
    let err: crate::Error = SchemeError::StorageVersionNotRegistered {
        storage: V3::type_meta(),
    }
    .into();
    assert!(matches!(err, crate::Error::InvalidScheme(_)));
    assert!(!err.is_retryable());
}
