//! Bad input: invalid keys, corrupt bytes, other kinds.

use super::crud::put_raw;
use super::{unique_prefix, widget, Gadget, TestCodec, Widget};
use crate::backend::RangeRequest;
use crate::lease::LeaseId;
use crate::resource_version::ResourceVersion;
use crate::store::{CreateOptions, ListOptions, Preconditions, Store, WatchFrom};
use crate::{Error, Result};

fn check<T>(key: &str, operation: &str, result: Result<T>) {
    match result {
        Err(err) if err.is_invalid_key() => {}
        Err(err) => panic!("{operation}({key:?}) gave {err} instead of InvalidKey"),
        Ok(_) => panic!("{operation}({key:?}) succeeded"),
    }
}

/// Every operation rejects malformed keys with InvalidKey, before touching the store.
pub async fn invalid_keys_are_rejected_everywhere<C: TestCodec>(store: Store<C>) {
    let long = format!("/{}", "k".repeat(crate::key::MAX_KEY_LEN));
    let before = store.current_resource_version().await.unwrap();
    for key in [
        "",
        "/",
        "a",
        "/a//b",
        "/a/../b",
        "/a/./b",
        "/a/",
        "/a\0b",
        long.as_str(),
    ] {
        let mut stored = widget("w", "red");
        check(key, "create", store.create(key, &stored).await);
        check(
            key,
            "create_with",
            store
                .create_with(key, &stored, &CreateOptions::lease(LeaseId(1)))
                .await,
        );
        check(key, "get", store.get::<Widget>(key).await);
        check(key, "get_dynamic", store.get_dynamic(key).await);
        check(
            key,
            "update_unconditionally",
            store.update_unconditionally(key, &stored).await,
        );
        stored.metadata.resource_version = Some("1".into());
        check(key, "update", store.update(key, &stored).await);
        check(
            key,
            "guaranteed_update",
            store
                .guaranteed_update(key, |w: &mut Widget| w.count += 1)
                .await,
        );
        check(
            key,
            "delete",
            store.delete::<Widget>(key, &Preconditions::none()).await,
        );
        check(key, "delete_prefix", store.delete_prefix(key).await);
        check(
            key,
            "list",
            store.list::<Widget>(key, &ListOptions::default()).await,
        );
        check(
            key,
            "watch",
            store.watch::<Widget>(key, WatchFrom::Now).await.map(|_| ()),
        );
        check(
            key,
            "watch_prefix",
            store
                .watch_prefix::<Widget>(key, WatchFrom::Now)
                .await
                .map(|_| ()),
        );
        check(
            key,
            "collection",
            store.collection::<Widget>(key).map(|_| ()),
        );
    }
    assert_eq!(
        store.current_resource_version().await.unwrap(),
        before,
        "nothing written"
    );
}

/// Bytes that do not decode give a codec error naming the key, and are left as they are.
pub async fn corrupt_bytes_name_the_key<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/corrupt", unique_prefix());
    put_raw(&store, &key, b"\xff\xfe definitely not an object").await;
    let named = |err: Error| {
        assert!(err.is_codec(), "{err}");
        assert_eq!(err.key(), Some(key.as_str()));
        assert!(
            err.to_string().contains(&key),
            "message names the key: {err}"
        );
    };
    named(store.get::<Widget>(&key).await.unwrap_err());
    named(
        store
            .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
            .await
            .unwrap_err(),
    );
    named(
        store
            .delete::<Widget>(&key, &Preconditions::none())
            .await
            .unwrap_err(),
    );
    let raw = store
        .backend()
        .range(RangeRequest::key(key.clone()))
        .await
        .unwrap();
    assert_eq!(&raw.kvs[0].value[..], b"\xff\xfe definitely not an object");
}

/// Reading a value of another kind is a KindMismatch naming both kinds; nothing changes.
pub async fn other_kind_is_a_kind_mismatch<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/gadget", unique_prefix());
    let gadget = Gadget {
        metadata: crate::ObjectMeta::named("g"),
        size: 1,
    };
    let stored = store.create(&key, &gadget).await.unwrap();
    match store.get::<Widget>(&key).await.unwrap_err() {
        Error::KindMismatch {
            key: k,
            expected,
            found,
        } => {
            assert_eq!(k, key);
            assert_eq!(expected.kind, "Widget");
            assert_eq!(found.kind, "Gadget");
        }
        other => panic!("expected KindMismatch, got {other}"),
    }
    let err = store
        .guaranteed_update(&key, |w: &mut Widget| w.count += 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KindMismatch { .. }), "{err}");
    assert_eq!(store.get::<Gadget>(&key).await.unwrap(), stored);
}

/// No write replaces a value of another kind: the unconditional overwrite refuses with
/// KindMismatch naming the key, and the stored value is left as it was.
pub async fn overwrite_of_another_kind_is_refused<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/gadget", unique_prefix());
    let gadget = Gadget {
        metadata: crate::ObjectMeta::named("g"),
        size: 1,
    };
    let stored = store.create(&key, &gadget).await.unwrap();
    let err = store
        .update_unconditionally(&key, &widget("g", "red"))
        .await
        .unwrap_err();
    match &err {
        Error::KindMismatch { key: k, found, .. } => {
            assert_eq!(k, &key);
            assert_eq!(found.kind, "Gadget");
        }
        other => panic!("expected KindMismatch, got {other}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(store.get::<Gadget>(&key).await.unwrap(), stored);
}

/// Objects over the store's value-size limit are refused before anything is sent, with one
/// non-retryable error naming the key, by every write; the default limit admits what etcd
/// admits (an object just under it is stored and read back on every backend).
pub async fn oversized_values_are_refused<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let big = format!("{prefix}/big");
    let near_limit = widget("big", &"x".repeat(crate::DEFAULT_MAX_VALUE_SIZE - 2048));
    let stored = store.create(&big, &near_limit).await.unwrap();
    assert_eq!(store.get::<Widget>(&big).await.unwrap(), stored);

    let huge = format!("{prefix}/huge");
    let over = widget("huge", &"x".repeat(3 << 20));
    let err = store.create(&huge, &over).await.unwrap_err();
    assert!(err.is_value_too_large(), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.key(), Some(huge.as_str()));
    assert!(store.get::<Widget>(&huge).await.unwrap_err().is_not_found());

    // A store with a small limit: updates over it leave the stored object as it was.
    let small = store.with_max_value_size(1024);
    let key = format!("{prefix}/small");
    let created = small.create(&key, &widget("small", "red")).await.unwrap();
    let mut grown = created.clone();
    grown.color = "y".repeat(2048);
    for err in [
        small.update(&key, &grown).await.unwrap_err(),
        small
            .update_unconditionally(&key, &grown)
            .await
            .unwrap_err(),
        small
            .guaranteed_update(&key, |w: &mut Widget| w.color = "z".repeat(2048))
            .await
            .unwrap_err(),
    ] {
        assert!(err.is_value_too_large(), "{err}");
        assert_eq!(err.key(), Some(key.as_str()));
    }
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), created);
}

/// Resource versions from callers are checked: not a number, or past the revision range every
/// backend shares (1 to 2^63 - 1, etcd's; `u64::MAX` was found by fuzzing: adding one
/// overflowed) is an invalid argument; so is `"0"` as a precondition (for a watch it means the
/// initial state, as in Kubernetes).
pub async fn absurd_resource_versions_are_invalid_arguments<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/w", unique_prefix());
    store.create(&key, &widget("w", "red")).await.unwrap();
    let stored = store.get::<Widget>(&key).await.unwrap();
    for rv in [
        "",
        "0",
        "-1",
        "abc",
        "9223372036854775808",
        "18446744073709551615",
        "99999999999999999999",
    ] {
        match rv.parse::<ResourceVersion>() {
            // Version 0 parses, and names no stored object.
            Ok(zero) => {
                assert_eq!(zero, ResourceVersion::ZERO);
                let at = Preconditions::resource_version(zero);
                let err = store.delete::<Widget>(&key, &at).await.unwrap_err();
                assert!(err.is_invalid_argument(), "{rv:?}: {err}");
            }
            Err(err) => {
                let err = crate::Error::from(err);
                assert!(err.is_invalid_argument(), "{rv:?}: {err}");
            }
        }
        // The wire form in an object's metadata is checked where a write takes it.
        let mut absurd = stored.clone();
        absurd.metadata.resource_version = Some(rv.to_owned());
        let err = store.update(&key, &absurd).await.unwrap_err();
        assert!(err.is_invalid_argument(), "{rv:?}: {err}");
    }
    let watched = store
        .watch::<Widget>(&key, WatchFrom::Version(ResourceVersion::MAX))
        .await;
    let err = watched
        .err()
        .expect("a watch after the last revision is refused");
    assert!(err.is_invalid_argument(), "{err}");
    assert!(
        store.get::<Widget>(&key).await.is_ok(),
        "nothing was deleted"
    );
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_validation_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            invalid_keys_are_rejected_everywhere: Shared,
            corrupt_bytes_name_the_key: Shared,
            other_kind_is_a_kind_mismatch: Shared,
            overwrite_of_another_kind_is_refused: Shared,
            oversized_values_are_refused: Shared,
            absurd_resource_versions_are_invalid_arguments: Shared,
        }
    };
}
