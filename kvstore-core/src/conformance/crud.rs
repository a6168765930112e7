//! Create, get, update, delete, collections and dynamic reads.

use bytes::Bytes;

use super::faults::Partition;
use super::{revision_of, unique_prefix, widget, Gadget, TestCodec, Widget};
use crate::backend::{PutLease, Txn, TxnOp};
use crate::scheme::Scheme;
use crate::store::{Preconditions, Store};
use crate::ListOptions;

/// Create then get returns the same object, with a resource version.
pub async fn create_then_get<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    assert_eq!(created.color, "red");
    let got: Widget = store.get(&key).await.unwrap();
    assert_eq!(got, created);
    assert_ne!(got.metadata.resource_version.as_deref(), Some("0"));
}

/// Creating an existing key fails with AlreadyExists and keeps the stored object.
pub async fn create_existing_is_already_exists<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let first = store.create(&key, &widget("a", "red")).await.unwrap();
    let err = store.create(&key, &widget("a", "blue")).await.unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(err.key(), Some(key.as_str()));
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), first);
}

/// An object with a resource version cannot be created.
pub async fn create_with_resource_version_is_rejected<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let mut object = widget("a", "red");
    object.metadata.resource_version = Some("5".into());
    let err = store.create(&key, &object).await.unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// Create sets a fresh uid and a creation timestamp, whatever the caller sent.
pub async fn create_sets_uid_and_timestamp<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut object = widget("a", "red");
    object.metadata.uid = Some(uuid::Uuid::nil());
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let a = store.create(&format!("{prefix}/a"), &object).await.unwrap();
    let b = store.create(&format!("{prefix}/b"), &object).await.unwrap();
    let (uid_a, uid_b) = (a.metadata.uid.unwrap(), b.metadata.uid.unwrap());
    assert_ne!(uid_a, uuid::Uuid::nil());
    assert_ne!(uid_a, uid_b);
    assert!(a.metadata.creation_timestamp.unwrap() >= before);
    let got: Widget = store.get(&format!("{prefix}/a")).await.unwrap();
    assert_eq!(got.metadata.uid, Some(uid_a));
}

/// `exists` tells whether a value is stored, whatever its kind; `health` answers.
pub async fn exists_and_health<C: TestCodec>(store: Store<C>) {
    store.health().await.unwrap();
    let key = format!("{}/a", unique_prefix());
    assert!(!store.exists(&key).await.unwrap());
    let gadget = super::Gadget {
        metadata: crate::ObjectMeta::named("a"),
        size: 1,
    };
    store.create(&key, &gadget).await.unwrap();
    assert!(store.exists(&key).await.unwrap());
    assert!(store.exists("no-slash").await.unwrap_err().is_invalid_key());
    store
        .delete::<super::Gadget>(&key, &Preconditions::none())
        .await
        .unwrap();
    assert!(!store.exists(&key).await.unwrap());
}

/// Getting a missing key is NotFound naming the key.
pub async fn get_missing_is_not_found<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/missing", unique_prefix());
    let err = store.get::<Widget>(&key).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.key(), Some(key.as_str()));
}

/// Resource versions strictly increase across all keys.
pub async fn resource_versions_increase_across_keys<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let mut last = 0;
    for i in 0..5 {
        let created = store
            .create(&format!("{prefix}/{i}"), &widget("w", "red"))
            .await
            .unwrap();
        let rv = revision_of(&created);
        assert!(rv > last, "{rv} after {last}");
        last = rv;
    }
    let updated = store
        .guaranteed_update(&format!("{prefix}/0"), |w: &mut Widget| w.count += 1)
        .await
        .unwrap();
    assert!(revision_of(&updated) > last);
}

/// Update with the current resource version replaces the object and returns the new version.
pub async fn update_with_current_version_succeeds<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let mut object = store.create(&key, &widget("a", "red")).await.unwrap();
    let created_rv = revision_of(&object);
    object.color = "blue".into();
    let updated = store.update(&key, &object).await.unwrap();
    assert!(revision_of(&updated) > created_rv);
    assert_eq!(updated.metadata.uid, object.metadata.uid);
    assert_eq!(store.get::<Widget>(&key).await.unwrap(), updated);
}

/// Update with a stale resource version is a Conflict carrying the current version.
pub async fn update_with_stale_version_conflicts<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let stale = store.create(&key, &widget("a", "red")).await.unwrap();
    let mut fresh = stale.clone();
    fresh.color = "green".into();
    let fresh = store.update(&key, &fresh).await.unwrap();
    let mut late = stale.clone();
    late.color = "blue".into();
    match store.update(&key, &late).await.unwrap_err() {
        crate::Error::Conflict { key: k, current } => {
            assert_eq!(k, key);
            assert_eq!(Some(current), fresh.metadata.version());
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(store.get::<Widget>(&key).await.unwrap().color, "green");
}

/// Update of a missing key is NotFound, and creates nothing.
pub async fn update_missing_key_is_not_found<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let mut object = widget("a", "red");
    object.metadata.resource_version = Some("1".into());
    assert!(store
        .update(&key, &object)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(store
        .update_unconditionally(&key, &object)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// Update without a resource version must be asked for explicitly.
pub async fn update_without_version_is_rejected<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    store.create(&key, &widget("a", "red")).await.unwrap();
    let err = store.update(&key, &widget("a", "blue")).await.unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    for bad in ["0", "abc", "-1", ""] {
        let mut object = widget("a", "blue");
        object.metadata.resource_version = Some(bad.into());
        assert!(
            store
                .update(&key, &object)
                .await
                .unwrap_err()
                .is_invalid_argument(),
            "{bad:?}"
        );
    }
    assert_eq!(store.get::<Widget>(&key).await.unwrap().color, "red");
}

/// The explicit unconditional update overwrites whatever version is stored.
pub async fn update_unconditionally_overwrites<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let mut other = created.clone();
    other.color = "green".into();
    store.update(&key, &other).await.unwrap();
    let mut stale = created.clone();
    stale.color = "blue".into();
    let written = store.update_unconditionally(&key, &stale).await.unwrap();
    assert!(revision_of(&written) > revision_of(&created));
    assert_eq!(store.get::<Widget>(&key).await.unwrap().color, "blue");
}

/// Delete returns the deleted object with the delete's resource version.
pub async fn delete_returns_object_at_delete_revision<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let deleted: Widget = store.delete(&key, &Preconditions::none()).await.unwrap();
    assert_eq!(deleted.color, "red");
    assert_eq!(deleted.metadata.uid, created.metadata.uid);
    assert!(revision_of(&deleted) > revision_of(&created));
    let now = store.current_resource_version().await.unwrap().revision();
    assert!(revision_of(&deleted) <= now);
    assert!(store.get::<Widget>(&key).await.unwrap_err().is_not_found());
}

/// Deleting a missing key is NotFound.
pub async fn delete_missing_is_not_found<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let err = store
        .delete::<Widget>(&key, &Preconditions::none())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// Delete preconditions on resource version and uid are checked; a failed one keeps the object.
pub async fn delete_checks_preconditions<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let mut changed = created.clone();
    changed.color = "blue".into();
    let changed = store.update(&key, &changed).await.unwrap();

    let stale = Preconditions::resource_version(created.metadata.version().unwrap());
    assert!(store
        .delete::<Widget>(&key, &stale)
        .await
        .unwrap_err()
        .is_conflict());
    let other_uid = Preconditions::uid(uuid::Uuid::new_v4());
    assert!(store
        .delete::<Widget>(&key, &other_uid)
        .await
        .unwrap_err()
        .is_conflict());
    assert!(store.get::<Widget>(&key).await.is_ok());

    let exact = Preconditions {
        resource_version: changed.metadata.version(),
        uid: created.metadata.uid,
    };
    let deleted = store.delete::<Widget>(&key, &exact).await.unwrap();
    assert_eq!(deleted.color, "blue");
}

/// Deleting as the wrong kind is a kind mismatch and deletes nothing.
pub async fn delete_of_another_kind_keeps_it<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    store.create(&key, &widget("a", "red")).await.unwrap();
    let err = store
        .delete::<Gadget>(&key, &Preconditions::none())
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::KindMismatch { .. }), "{err}");
    assert!(store.get::<Widget>(&key).await.is_ok());
}

/// Deleting the directory `/abc` deletes `/abc/...` and leaves `/abcd` and `/abc` alone.
pub async fn delete_prefix_is_a_directory<C: TestCodec>(store: Store<C>) {
    let root = unique_prefix();
    let dir = format!("{root}/abc");
    for key in [
        format!("{dir}/1"),
        format!("{dir}/2/deep"),
        format!("{root}/abcd/1"),
        dir.clone(),
    ] {
        store.create(&key, &widget("w", "red")).await.unwrap();
    }
    assert_eq!(store.delete_prefix(&dir).await.unwrap(), 2);
    assert!(store
        .list::<Widget>(&dir, &ListOptions::default())
        .await
        .unwrap()
        .is_empty());
    assert!(store.get::<Widget>(&format!("{root}/abcd/1")).await.is_ok());
    assert!(store.get::<Widget>(&dir).await.is_ok());
    assert_eq!(store.delete_prefix(&dir).await.unwrap(), 0);
}

/// A collection derives keys from names and namespaces.
pub async fn collection_addresses_objects_by_name<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    let widgets = store.collection::<Widget>(&prefix).unwrap();
    let plain = widgets.create(&widget("plain", "red")).await.unwrap();
    let team = widgets.namespaced("team-a").unwrap();
    let scoped = team.create(&widget("scoped", "blue")).await.unwrap();
    assert_eq!(scoped.metadata.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        store
            .get::<Widget>(&format!("{prefix}/plain"))
            .await
            .unwrap(),
        plain
    );
    assert_eq!(
        store
            .get::<Widget>(&format!("{prefix}/team-a/scoped"))
            .await
            .unwrap(),
        scoped
    );
    assert_eq!(team.get("scoped").await.unwrap(), scoped);
    assert!(team.get("plain").await.unwrap_err().is_not_found());
    assert_eq!(
        widgets.list(&ListOptions::default()).await.unwrap().len(),
        2
    );
    assert_eq!(team.list(&ListOptions::default()).await.unwrap().len(), 1);
    let mut recolored = scoped.clone();
    recolored.color = "green".into();
    assert_eq!(team.update(&recolored).await.unwrap().color, "green");
    assert_eq!(
        team.guaranteed_update("scoped", |w| w.count = 7)
            .await
            .unwrap()
            .count,
        7
    );
    assert!(widgets.get("a/b").await.unwrap_err().is_invalid_key());
    let mut elsewhere = widget("x", "red");
    elsewhere.metadata.namespace = Some("team-b".into());
    assert!(team
        .create(&elsewhere)
        .await
        .unwrap_err()
        .is_invalid_argument());
    assert_eq!(
        team.delete("scoped", &Preconditions::none())
            .await
            .unwrap()
            .count,
        7
    );
}

/// A scheme decodes a prefix holding several kinds into the right types; unknown kinds are
/// reported.
pub async fn dynamic_reads_decode_through_the_scheme<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    store
        .create(&format!("{prefix}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let gadget = Gadget {
        metadata: crate::ObjectMeta::named("b"),
        size: 3,
    };
    store.create(&format!("{prefix}/b"), &gadget).await.unwrap();

    let widgets_only = store.with_scheme({
        let mut scheme = Scheme::new();
        scheme.register::<Widget>().unwrap();
        scheme
    });
    let err = widgets_only
        .get_dynamic(&format!("{prefix}/b"))
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::UnknownKind { .. }), "{err}");

    let both = store.with_scheme({
        let mut scheme = Scheme::new();
        scheme
            .register::<Widget>()
            .unwrap()
            .register::<Gadget>()
            .unwrap();
        scheme
    });
    let list = both
        .list_dynamic(&prefix, &ListOptions::default())
        .await
        .unwrap();
    let kinds: Vec<_> = list
        .items
        .iter()
        .map(|o| o.type_meta().kind.clone())
        .collect();
    assert_eq!(kinds, ["Widget", "Gadget"]);
    let mut items = list.items.into_iter();
    assert_eq!(
        items.next().unwrap().downcast::<Widget>().unwrap().color,
        "red"
    );
    let second = items.next().unwrap();
    assert!(second.metadata().resource_version.is_some());
    assert_eq!(second.downcast::<Gadget>().unwrap().size, 3);
}

/// Raw bytes written under `key`, bypassing the codec.
pub(super) async fn put_raw<C: TestCodec>(store: &Store<C>, key: &str, value: &'static [u8]) {
    store
        .backend()
        .txn(Txn::default().then(TxnOp::put(key, Bytes::from_static(value), PutLease::Detach)))
        .await
        .unwrap();
}

/// A delete at the version the caller read: returns the object at the delete revision; a
/// missing key is not found; a stale version conflicts and names the current one.
pub async fn delete_at_read_version<C: TestCodec>(store: Store<C>) {
    let key = format!("{}/a", unique_prefix());
    let created = store.create(&key, &widget("a", "red")).await.unwrap();
    let at = Preconditions::resource_version(created.metadata.version().unwrap());
    let deleted = store.delete::<Widget>(&key, &at).await.unwrap();
    assert_eq!(deleted.color, "red");
    assert!(super::revision_of(&deleted) > super::revision_of(&created));
    assert!(store
        .delete::<Widget>(&key, &at)
        .await
        .unwrap_err()
        .is_not_found());
    let again = store.create(&key, &widget("a", "blue")).await.unwrap();
    match store.delete::<Widget>(&key, &at).await.unwrap_err() {
        crate::Error::Conflict { current, .. } => {
            assert_eq!(Some(current), again.metadata.version())
        }
        other => panic!("expected a conflict, got {other}"),
    }
}

/// A write whose answer is lost is `Ambiguous`, never retryable as such; a create learns its
/// own outcome: its own object (same uid) is success, an absent key is created once, another
/// object is `AlreadyExists`.
pub async fn create_learns_the_outcome_of_a_lost_answer<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let faults = Partition::default();
    let client = faults.wrap(&store);
    let (a, b) = (format!("{p}/a"), format!("{p}/b"));

    faults.lose_next_answer(true);
    let created = client.create(&a, &widget("a", "red")).await.unwrap();
    assert_eq!(
        store.get::<Widget>(&a).await.unwrap(),
        created,
        "applied once, recognised"
    );

    faults.lose_next_answer(false);
    let created = client.create(&b, &widget("b", "red")).await.unwrap();
    assert_eq!(
        store.get::<Widget>(&b).await.unwrap(),
        created,
        "created on the second try"
    );

    faults.lose_next_answer(false);
    let err = client.create(&a, &widget("a", "blue")).await.unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(store.get::<Widget>(&a).await.unwrap().color, "red");

    let mut changed = created.clone();
    changed.color = "green".to_owned();
    faults.lose_next_answer(true);
    let err = client.update(&b, &changed).await.unwrap_err();
    assert!(err.is_ambiguous() && !err.is_retryable(), "{err}");
    assert_eq!(
        store.get::<Widget>(&b).await.unwrap().color,
        "green",
        "it was applied"
    );
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_crud_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            create_then_get: Shared,
            create_existing_is_already_exists: Shared,
            create_with_resource_version_is_rejected: Shared,
            create_sets_uid_and_timestamp: Shared,
            create_learns_the_outcome_of_a_lost_answer: Shared,
            get_missing_is_not_found: Shared,
            exists_and_health: Shared,
            resource_versions_increase_across_keys: Shared,
            update_with_current_version_succeeds: Shared,
            update_with_stale_version_conflicts: Shared,
            update_missing_key_is_not_found: Shared,
            update_without_version_is_rejected: Shared,
            update_unconditionally_overwrites: Shared,
            delete_returns_object_at_delete_revision: Shared,
            delete_missing_is_not_found: Shared,
            delete_checks_preconditions: Shared,
            delete_at_read_version: Shared,
            delete_of_another_kind_keeps_it: Shared,
            delete_prefix_is_a_directory: Shared,
            collection_addresses_objects_by_name: Shared,
            dynamic_reads_decode_through_the_scheme: Shared,
        }
    };
}
