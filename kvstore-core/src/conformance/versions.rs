//! Versions of a kind: reads converted from any stored version, writes in the storage version,
//! losses refused, the stored-versions record and storage-version migration.
//!
//! Three programs share one backend: `oldest` knows only [`Widget`] (v1); `rollback` knows v1
//! and [`WidgetV2`] and stores v1 (a release rolled back after v2 was introduced); `newest`
//! knows both and stores v2.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{next_event, unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::backend::{KeyValue, RangeRequest};
use crate::cache::Cache;
use crate::error::Error;
use crate::field_selector::FieldSelector;
use crate::meta::{ObjectMeta, TypeMeta};
use crate::object::Object;
use crate::scheme::{Scheme, LOSSY_CONVERSION_ANNOTATION};
use crate::store::{
    Collection, ListOptions, MigrateOptions, MigrationProgress, Store, WatchEvent, WatchFrom,
    WatchOptions,
};

/// Version 2 of [`Widget`]: the color became a paint, which may have a finish v1 cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WidgetV2 {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// What v1 called the color, and more.
    pub paint: Paint,
    /// A counter for read-modify-write cases.
    pub count: u64,
}

/// A [`WidgetV2`]'s paint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Paint {
    /// The color (v1's `color`).
    pub color: String,
    /// The finish, which only v2 has.
    pub finish: Option<String>,
}

impl Object for WidgetV2 {
    const KIND: &'static str = "Widget";
    const API_VERSION: &'static str = "conformance.kvstore/v2";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn field(&self, name: &str) -> Option<String> {
        (name == "color").then(|| self.paint.color.clone())
    }
}

impl From<Widget> for WidgetV2 {
    fn from(v1: Widget) -> Self {
        WidgetV2 {
            metadata: v1.metadata,
            paint: Paint {
                color: v1.color,
                finish: None,
            },
            count: v1.count,
        }
    }
}

/// Drops the finish: a lossy conversion, which the store must not let destroy data.
impl From<WidgetV2> for Widget {
    fn from(v2: WidgetV2) -> Self {
        Widget {
            metadata: v2.metadata,
            color: v2.paint.color,
            count: v2.count,
        }
    }
}

/// The versions of `Widget`, stored as `S`.
fn scheme<C: TestCodec, S: Object>() -> Scheme<C> {
    let mut scheme = Scheme::new();
    scheme
        .versions::<WidgetV2>()
        .version::<Widget>()
        .storage::<S>()
        .register()
        .unwrap();
    scheme
}

/// The store as the program that knows v1 and v2 and stores v1 sees it.
fn rollback<C: TestCodec>(store: &Store<C>) -> Store<C> {
    store.with_scheme(scheme::<C, Widget>())
}

/// The store as the program that knows v1 and v2 and stores v2 sees it.
fn newest<C: TestCodec>(store: &Store<C>) -> Store<C> {
    store.with_scheme(scheme::<C, WidgetV2>())
}

fn painted(name: &str, color: &str, finish: Option<&str>) -> WidgetV2 {
    WidgetV2 {
        metadata: ObjectMeta::named(name),
        paint: Paint {
            color: color.to_owned(),
            finish: finish.map(str::to_owned),
        },
        count: 0,
    }
}

fn collection<K: Object, C: TestCodec + crate::codec::CodecFor<K>>(
    store: &Store<C>,
    prefix: &str,
) -> Collection<K, C> {
    store.collection::<K>(prefix).unwrap()
}

/// The version a value is stored in.
async fn stored_version<C: TestCodec>(store: &Store<C>, key: &str) -> String {
    let kv = raw(store, key).await;
    store
        .codec()
        .type_meta(&store.opened(&kv).unwrap())
        .unwrap()
        .api_version
}

async fn raw<C: TestCodec>(store: &Store<C>, key: &str) -> KeyValue {
    let response = store.backend().range(RangeRequest::key(key)).await.unwrap();
    response.kvs.into_iter().next().expect("stored")
}

/// What the record of `collection` lists.
async fn recorded<C: TestCodec>(collection: &Collection<WidgetV2, C>) -> Vec<String> {
    let record = collection.stored_versions().await.unwrap();
    record.expect("a record").stored_versions
}

/// A migration of `collection` run to its end.
async fn migrated<C: TestCodec>(
    collection: &Collection<WidgetV2, C>,
    options: &MigrateOptions,
) -> MigrationProgress {
    let done = collection.migrate(options, |_| ControlFlow::Continue(()));
    done.await.unwrap()
}

const V1: &str = "conformance.kvstore/v1";
const V2: &str = "conformance.kvstore/v2";

/// A collection of any registered version gets and lists objects stored in any version,
/// converted, with resource version and metadata unchanged; writes are stored in the storage
/// version; compare-and-swap works across versions.
pub async fn versions_read_any_stored_version<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let (rollback, newest) = (rollback(&store), newest(&store));
    let a = collection::<Widget, C>(&rollback, &p)
        .create(&Widget {
            metadata: ObjectMeta::named("a").with_label("tier", "front"),
            ..widget("a", "red")
        })
        .await
        .unwrap();
    assert_eq!(stored_version(&store, &format!("{p}/a")).await, V1);
    let b = collection::<WidgetV2, C>(&newest, &p)
        .create(&painted("b", "blue", None))
        .await
        .unwrap();
    assert_eq!(stored_version(&store, &format!("{p}/b")).await, V2);

    let v2s = collection::<WidgetV2, C>(&newest, &p);
    let a2 = v2s.get("a").await.unwrap();
    assert_eq!(a2.paint.color, "red");
    assert_eq!(a2.metadata, a.metadata, "conversion keeps the metadata");
    let v1s = collection::<Widget, C>(&newest, &p);
    let b1 = v1s.get("b").await.unwrap();
    assert_eq!(b1.color, "blue");
    assert_eq!(b1.metadata, b.metadata);

    let listed = v1s.list(&ListOptions::default()).await.unwrap();
    let colors: Vec<_> = listed.items.iter().map(|w| w.color.as_str()).collect();
    assert_eq!(colors, ["red", "blue"]);
    let listed = v2s.list(&ListOptions::default()).await.unwrap();
    assert_eq!(listed.items[0].metadata, a.metadata);
    assert_eq!(listed.items[1].metadata, b.metadata);

    // A compare-and-swap through v2 of an object read as v2 but stored as v1: stored as v2.
    let mut changed = a2.clone();
    changed.paint.color = "green".into();
    let written = v2s.update(&changed).await.unwrap();
    assert_eq!(stored_version(&store, &format!("{p}/a")).await, V2);
    assert_ne!(
        written.metadata.resource_version,
        a.metadata.resource_version
    );
    // The resource version read in another version is the same compare: stale is a conflict.
    let err = v1s.update(&a).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let current = collection::<Widget, C>(&rollback, &p)
        .get("a")
        .await
        .unwrap();
    assert_eq!(
        current.metadata.resource_version,
        written.metadata.resource_version
    );
    let back = collection::<Widget, C>(&rollback, &p)
        .update(&Widget {
            count: 5,
            ..current
        })
        .await
        .unwrap();
    assert_eq!(stored_version(&store, &format!("{p}/a")).await, V1);
    assert_eq!(v2s.get("a").await.unwrap().count, back.count);

    let record = v2s.stored_versions().await.unwrap().expect("recorded");
    assert_eq!(record.stored_versions, [V1, V2]);
    assert_eq!(
        (record.kind.as_str(), record.group.as_str()),
        ("Widget", "conformance.kvstore")
    );
}

/// Watch events, caches, their indexes and field selectors see objects converted to the
/// version asked for, across a change of the storage version.
pub async fn versions_watch_and_cache_convert<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let (rollback, newest) = (rollback(&store), newest(&store));
    let v1s = collection::<Widget, C>(&newest, &p);
    let mut watch = v1s
        .watch(&WatchOptions::starting(WatchFrom::Now))
        .await
        .unwrap();
    let cache = Cache::for_collection(&collection::<WidgetV2, C>(&newest, &p)).unwrap();
    cache.add_index("color", |w: &WidgetV2| vec![w.paint.color.clone()]);
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_until_synced())
        .await
        .expect("synced");

    collection::<Widget, C>(&rollback, &p)
        .create(&widget("a", "red"))
        .await
        .unwrap();
    collection::<WidgetV2, C>(&newest, &p)
        .guaranteed_update("a", |w| w.paint.color = "green".into())
        .await
        .unwrap();
    match next_event(&mut watch).await {
        WatchEvent::Added(w) => assert_eq!(w.color, "red"),
        other => panic!("expected Added, got {other:?}"),
    }
    let updated = match next_event(&mut watch).await {
        WatchEvent::Modified(w) => w,
        other => panic!("expected Modified, got {other:?}"),
    };
    assert_eq!(updated.color, "green");
    assert_eq!(stored_version(&store, &format!("{p}/a")).await, V2);

    let version = updated.metadata.version().unwrap();
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_for(version))
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(cache.get("a").unwrap().paint.color, "green");
    assert_eq!(cache.by_index("color", "green").unwrap().len(), 1);

    let selected = v1s
        .list(&ListOptions::default().fields("color=green".parse::<FieldSelector>().unwrap()))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
}

/// A program that does not know the version an object is stored in gets a typed error naming
/// the key from get, list and watch, and cannot overwrite it.
pub async fn versions_unknown_version_is_an_error_naming_the_key<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let oldest = collection::<Widget, C>(&store, &p);
    oldest.create(&widget("a", "red")).await.unwrap();
    let mut watch = oldest
        .watch(&WatchOptions::starting(WatchFrom::Now))
        .await
        .unwrap();
    collection::<WidgetV2, C>(&newest(&store), &p)
        .create(&painted("b", "blue", Some("matte")))
        .await
        .unwrap();
    let key = format!("{p}/b");

    let err = oldest.get("b").await.unwrap_err();
    assert!(err.is_unknown_version(), "{err}");
    assert_eq!(err.key(), Some(key.as_str()));
    let err = oldest.list(&ListOptions::default()).await.unwrap_err();
    assert!(err.is_unknown_version(), "{err}");
    assert_eq!(err.key(), Some(key.as_str()));
    let err = super::next_error(&mut watch).await;
    assert!(err.is_unknown_version(), "{err}");
    assert_eq!(err.key(), Some(key.as_str()));
    let err = oldest
        .watch(&WatchOptions::starting(WatchFrom::InitialState))
        .await
        .err()
        .expect("the initial state holds an object of an unknown version");
    assert_eq!(err.key(), Some(key.as_str()));

    let err = oldest
        .migrate(&MigrateOptions::default(), |_| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(err.is_unknown_version(), "{err}");
    assert_eq!(err.key(), Some(key.as_str()));
    let err = oldest
        .update_unconditionally(&widget("b", "red"))
        .await
        .unwrap_err();
    assert!(err.is_unknown_version(), "{err}");
    assert_eq!(stored_version(&store, &key).await, V2);
}

/// v2 → v1 → v2: a program storing v1 cannot silently drop what only v2 holds — its writes of
/// such an object are refused and the data stays — while objects v1 can represent round-trip.
pub async fn versions_rollback_never_loses_data<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let (rollback, newest) = (rollback(&store), newest(&store));
    let new = collection::<WidgetV2, C>(&newest, &p);
    new.create(&painted("matte", "red", Some("matte")))
        .await
        .unwrap();
    new.create(&painted("plain", "red", None)).await.unwrap();

    let old = collection::<Widget, C>(&rollback, &p);
    let read = old.get("matte").await.unwrap();
    assert_eq!(
        read.metadata
            .annotations
            .get(LOSSY_CONVERSION_ANNOTATION)
            .map(String::as_str),
        Some(V2)
    );
    let err = old
        .update(&Widget {
            color: "blue".into(),
            ..read.clone()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LossyConversion { .. }), "{err}");
    let err = old
        .guaranteed_update("matte", |w| w.count += 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LossyConversion { .. }), "{err}");
    // Written through v2 by the program storing v1: v1 cannot hold the finish.
    let err = collection::<WidgetV2, C>(&rollback, &p)
        .guaranteed_update("matte", |w| w.count += 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LossyConversion { .. }), "{err}");
    let kept = new.get("matte").await.unwrap();
    assert_eq!(kept.paint, painted("", "red", Some("matte")).paint);
    assert_eq!(kept.count, 0);

    // What v1 can represent goes v2 → v1 → v2 unchanged.
    let before = new.get("plain").await.unwrap();
    old.guaranteed_update("plain", |w| w.count += 1)
        .await
        .unwrap();
    assert_eq!(stored_version(&store, &format!("{p}/plain")).await, V1);
    let after = new.get("plain").await.unwrap();
    assert_eq!(after.paint, before.paint);
    assert_eq!(after.count, 1);
    assert_eq!(after.metadata.uid, before.metadata.uid);

    // Removing the annotation accepts the loss, deliberately.
    let mut accepted = old.get("matte").await.unwrap();
    accepted
        .metadata
        .annotations
        .remove(LOSSY_CONVERSION_ANNOTATION);
    old.update(&accepted).await.unwrap();
    assert_eq!(new.get("matte").await.unwrap().paint.finish, None);
}

/// Conversions that keep what the other version cannot hold in an annotation (as Kubernetes'
/// do) make every round trip lossless, so the program storing v1 may write any object.
pub async fn versions_conversions_keeping_data_in_annotations_round_trip<C: TestCodec>(
    store: Store<C>,
) {
    const FINISH: &str = "conformance.kvstore/finish";
    let scheme = |storage_v1: bool| {
        let mut scheme = Scheme::<C>::new();
        let versions = scheme
            .versions::<WidgetV2>()
            .version_with::<Widget, Error, Error>(
                |mut v1: Widget| {
                    let finish = v1.metadata.annotations.remove(FINISH);
                    Ok(WidgetV2 {
                        paint: Paint {
                            color: std::mem::take(&mut v1.color),
                            finish,
                        },
                        ..WidgetV2::from(v1)
                    })
                },
                |mut v2: WidgetV2| {
                    if let Some(finish) = v2.paint.finish.take() {
                        v2.metadata.annotations.insert(FINISH.to_owned(), finish);
                    }
                    Ok(Widget::from(v2))
                },
            );
        match storage_v1 {
            true => versions.storage::<Widget>().register().unwrap(),
            false => versions.register().unwrap(),
        };
        scheme
    };
    let p = unique_prefix();
    let new = collection::<WidgetV2, C>(&store.with_scheme(scheme(false)), &p);
    let old = collection::<Widget, C>(&store.with_scheme(scheme(true)), &p);
    new.create(&painted("w", "red", Some("matte")))
        .await
        .unwrap();
    let read = old.get("w").await.unwrap();
    assert!(!read
        .metadata
        .annotations
        .contains_key(LOSSY_CONVERSION_ANNOTATION));
    old.guaranteed_update("w", |w| w.color = "blue".into())
        .await
        .unwrap();
    assert_eq!(stored_version(&store, &format!("{p}/w")).await, V1);
    let after = new.get("w").await.unwrap();
    assert_eq!(after.paint, painted("", "blue", Some("matte")).paint);
    assert!(after.metadata.annotations.is_empty());
}

/// A conversion that fails or panics is a typed error naming the key and both versions; the
/// store goes on serving other objects.
pub async fn versions_failing_conversion_is_a_typed_error<C: TestCodec>(store: Store<C>) {
    let mut scheme = Scheme::<C>::new();
    scheme
        .versions::<WidgetV2>()
        .version_with::<Widget, String, Error>(
            |v1| match v1.color.as_str() {
                "panic" => panic!("a bug in a conversion"),
                "bad" => Err("bad is no color".to_owned()),
                _ => Ok(WidgetV2::from(v1)),
            },
            |v2| Ok(Widget::from(v2)),
        )
        .register()
        .unwrap();
    let p = unique_prefix();
    let oldest = collection::<Widget, C>(&store, &p);
    for (name, color) in [("a", "bad"), ("b", "panic"), ("c", "red")] {
        oldest.create(&widget(name, color)).await.unwrap();
    }
    let new = collection::<WidgetV2, C>(&store.with_scheme(scheme), &p);
    for name in ["a", "b"] {
        let err = new.get(name).await.unwrap_err();
        match &err {
            Error::Conversion { key, from, to, .. } => {
                assert_eq!(key, &format!("{p}/{name}"));
                assert_eq!(**from, TypeMeta::new("Widget", V1));
                assert_eq!(**to, TypeMeta::new("Widget", V2));
            }
            other => panic!("expected a conversion error, got {other:?}"),
        }
        assert!(!err.is_retryable());
    }
    assert!(new
        .get("b")
        .await
        .unwrap_err()
        .to_string()
        .contains("panicked"));
    assert_eq!(new.get("c").await.unwrap().paint.color, "red");
    let err = new.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(err.key(), Some(format!("{p}/a").as_str()));
    let err = new
        .migrate(&MigrateOptions::default(), |_| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(err.is_conversion(), "{err}");
    assert_eq!(stored_version(&store, &format!("{p}/c")).await, V1);
}

/// A migration rewrites every object stored in an old version into the storage version while
/// services update the same objects: no update lost, progress reported, and the record then
/// lists the storage version alone.
pub async fn versions_migration_under_concurrent_writers<C: TestCodec>(store: Store<C>) {
    const OBJECTS: usize = 40;
    const WRITERS: u64 = 3;
    let p = unique_prefix();
    let old = collection::<Widget, C>(&rollback(&store), &p);
    for i in 0..OBJECTS {
        old.create(&widget(&format!("w{i:02}"), "red"))
            .await
            .unwrap();
    }
    let new = collection::<WidgetV2, C>(&newest(&store), &p);
    assert_eq!(recorded(&new).await, [V1, V2]);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let new = new.clone();
            tokio::spawn(async move {
                for i in 0..OBJECTS {
                    let name = format!("w{:02}", (i + 13 * writer as usize) % OBJECTS);
                    new.guaranteed_update(&name, |w| w.count += 1)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let reports = Arc::new(Mutex::new(Vec::<MigrationProgress>::new()));
    let seen = Arc::clone(&reports);
    let options = MigrateOptions {
        page_size: 7,
        batch: 3,
        resume_from: None,
    };
    let done = new
        .migrate(&options, move |progress| {
            seen.lock().unwrap().push(progress.clone());
            ControlFlow::Continue(())
        })
        .await
        .unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(done.seen, OBJECTS as u64);
    assert!(done.migrated <= OBJECTS as u64);
    assert_eq!(done.continue_token, None);
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), OBJECTS.div_ceil(7));
    assert!(reports
        .windows(2)
        .all(|w| w[0].seen < w[1].seen && w[0].migrated <= w[1].migrated));
    for i in 0..OBJECTS {
        let key = format!("{p}/w{i:02}");
        assert_eq!(stored_version(&store, &key).await, V2, "{key}");
        assert_eq!(new.get(&format!("w{i:02}")).await.unwrap().count, WRITERS);
    }
    assert_eq!(recorded(&new).await, [V2]);
}

/// A migration stopped after a page resumes from its token and completes; a bad token is an
/// invalid argument.
pub async fn versions_migration_resumes_from_its_token<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let old = collection::<Widget, C>(&rollback(&store), &p);
    for i in 0..10 {
        old.create(&widget(&format!("w{i}"), "red")).await.unwrap();
    }
    let new = collection::<WidgetV2, C>(&newest(&store), &p);
    let options = MigrateOptions {
        page_size: 3,
        batch: 2,
        resume_from: None,
    };
    let stopped = new
        .migrate(&options, |_| ControlFlow::Break(()))
        .await
        .unwrap();
    assert_eq!((stopped.seen, stopped.migrated), (3, 3));
    let token = stopped.continue_token.expect("a token to resume from");
    assert_eq!(stored_version(&store, &format!("{p}/w3")).await, V1);
    assert_eq!(
        recorded(&new).await,
        [V1, V2],
        "an incomplete migration leaves the record"
    );

    let resumed = new
        .migrate(
            &MigrateOptions {
                resume_from: Some(token),
                ..options.clone()
            },
            |_| ControlFlow::Continue(()),
        )
        .await
        .unwrap();
    assert_eq!((resumed.seen, resumed.migrated), (7, 7));
    for i in 0..10 {
        assert_eq!(stored_version(&store, &format!("{p}/w{i}")).await, V2);
    }
    assert_eq!(recorded(&new).await, [V2]);
    let again = migrated(&new, &options).await;
    assert_eq!((again.seen, again.migrated), (10, 0));

    let err = new
        .migrate(
            &MigrateOptions {
                resume_from: Some("not a token".into()),
                ..options
            },
            |_| ControlFlow::Continue(()),
        )
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

/// A migration through a handle restricted to one namespace rewrites that namespace only and
/// leaves the record as it was; one of the whole collection completes it.
pub async fn versions_migration_of_one_namespace_keeps_the_record<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    let old = collection::<Widget, C>(&rollback(&store), &p);
    for namespace in ["a", "b"] {
        let old = old.namespaced(namespace).unwrap();
        old.create(&widget("w", "red")).await.unwrap();
    }
    let new = collection::<WidgetV2, C>(&newest(&store), &p);
    let one_namespace = new.namespaced("a").unwrap();
    let done = migrated(&one_namespace, &MigrateOptions::default()).await;
    assert_eq!((done.seen, done.migrated), (1, 1));
    assert_eq!(stored_version(&store, &format!("{p}/a/w")).await, V2);
    assert_eq!(stored_version(&store, &format!("{p}/b/w")).await, V1);
    assert_eq!(recorded(&new).await, [V1, V2]);
    let done = migrated(&new, &MigrateOptions::default()).await;
    assert_eq!((done.seen, done.migrated), (2, 1));
    assert_eq!(recorded(&new).await, [V2]);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_versions_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            versions_read_any_stored_version: Shared,
            versions_watch_and_cache_convert: Shared,
            versions_unknown_version_is_an_error_naming_the_key: Shared,
            versions_rollback_never_loses_data: Shared,
            versions_conversions_keeping_data_in_annotations_round_trip: Shared,
            versions_failing_conversion_is_a_typed_error: Shared,
            versions_migration_under_concurrent_writers: Shared,
            versions_migration_resumes_from_its_token: Shared,
            versions_migration_of_one_namespace_keeps_the_record: Shared,
        }
    };
}
