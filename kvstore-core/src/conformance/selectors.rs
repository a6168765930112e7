//! Label and field selectors on list, watch, watcher and cache.

use super::{assert_quiet, next_event, unique_prefix, widget, TestCodec, Widget, EVENT_TIMEOUT};
use crate::cache::Cache;
use crate::field_selector::FieldSelector;
use crate::selector::LabelSelector;
use crate::store::Selection;
use crate::store::{ListOptions, Store, WatchEvent, WatchFrom, WatchOptions};
use crate::watcher::WatcherConfig;
use crate::ObjectMeta;

fn tagged(name: &str, color: &str, tier: &str) -> Widget {
    Widget {
        metadata: ObjectMeta::named(name).with_label("tier", tier),
        color: color.to_owned(),
        count: 0,
    }
}

fn names(items: &[Widget]) -> Vec<&str> {
    items.iter().map(|w| w.metadata.name.as_str()).collect()
}

/// Lists filter by fields (metadata and the kind's selectable fields), with labels too.
pub async fn list_filters_by_field_selector<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    for (name, color, tier) in [
        ("a", "red", "front"),
        ("b", "blue", "front"),
        ("c", "red", "back"),
    ] {
        store
            .create(&format!("{p}/{name}"), &tagged(name, color, tier))
            .await
            .unwrap();
    }
    let list = |fields: &str, labels: Option<&str>| {
        let mut options = ListOptions::default().fields(fields.parse::<FieldSelector>().unwrap());
        if let Some(labels) = labels {
            options = options.labels(labels.parse::<LabelSelector>().unwrap());
        }
        let (store, p) = (store.clone(), p.clone());
        async move { store.list::<Widget>(&p, &options).await.unwrap().items }
    };
    assert_eq!(names(&list("color=red", None).await), ["a", "c"]);
    assert_eq!(names(&list("metadata.name=b", None).await), ["b"]);
    assert_eq!(names(&list("color!=red", None).await), ["b"]);
    assert_eq!(names(&list("color=red", Some("tier=front")).await), ["a"]);
    assert!(list("metadata.namespace=prod", None).await.is_empty());
    // Pages of a filtered list still read one snapshot and go on where they stopped.
    let options = ListOptions::limit(1).fields("color=red".parse().unwrap());
    let first = store.list::<Widget>(&p, &options).await.unwrap();
    assert_eq!(names(&first.items), ["a"]);
    let token = first.metadata.continue_token.clone().expect("a next page");
    let second = store
        .list::<Widget>(&p, &options.continue_from(token))
        .await
        .unwrap();
    assert_eq!(names(&second.items), ["c"]);
}

/// A selected watch stays exact: objects entering the selection are Added, leaving it
/// Deleted (as they now are), changes outside it are not reported.
pub async fn selected_watch_reports_entering_and_leaving<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    store
        .create(&format!("{p}/old"), &widget("old", "red"))
        .await
        .unwrap();
    store
        .create(&format!("{p}/grey"), &widget("grey", "grey"))
        .await
        .unwrap();
    let options = WatchOptions {
        from: WatchFrom::InitialState,
        selection: Selection::fields("color=red".parse().unwrap()),
        ..WatchOptions::default()
    };
    let mut events = store
        .watch_prefix_with::<Widget>(&p, &options)
        .await
        .unwrap();
    let tag = |event: WatchEvent<Widget>| match event {
        WatchEvent::Added(w) => format!("created {} {}", w.metadata.name, w.color),
        WatchEvent::Modified(w) => format!("updated {} {}", w.metadata.name, w.color),
        WatchEvent::Deleted(w) => format!("deleted {} {}", w.metadata.name, w.color),
        WatchEvent::InitialStateDone(_) => "initial state done".to_owned(),
        WatchEvent::Bookmark(_) => "bookmark".to_owned(),
    };
    assert_eq!(tag(next_event(&mut events).await), "created old red");
    assert_eq!(tag(next_event(&mut events).await), "initial state done");

    store
        .create(&format!("{p}/a"), &widget("a", "red"))
        .await
        .unwrap();
    store
        .create(&format!("{p}/b"), &widget("b", "blue"))
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{p}/b"), |w: &mut Widget| w.color = "red".into())
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{p}/a"), |w: &mut Widget| w.count = 1)
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{p}/a"), |w: &mut Widget| w.color = "blue".into())
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{p}/a"), |w: &mut Widget| w.count = 2)
        .await
        .unwrap();
    store
        .delete::<Widget>(&format!("{p}/grey"), &Default::default())
        .await
        .unwrap();
    store
        .delete::<Widget>(&format!("{p}/b"), &Default::default())
        .await
        .unwrap();
    for expected in [
        "created a red",
        "created b red",
        "updated a red",
        "deleted a blue",
        "deleted b red",
    ] {
        assert_eq!(tag(next_event(&mut events).await), expected);
    }
    assert_quiet(&mut events).await;
}

/// A cache of a selection holds exactly the selected objects through every change.
pub async fn cache_of_a_selection_stays_exact<C: TestCodec>(store: Store<C>) {
    let p = unique_prefix();
    store
        .create(&format!("{p}/a"), &tagged("a", "red", "front"))
        .await
        .unwrap();
    store
        .create(&format!("{p}/b"), &tagged("b", "red", "back"))
        .await
        .unwrap();
    let config = WatcherConfig {
        selection: Selection::labels("tier=front".parse().unwrap()),
        ..WatcherConfig::default()
    };
    let cache = Cache::<Widget>::with_config(&store, &p, config).unwrap();
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_until_synced())
        .await
        .unwrap();
    let cached = |cache: &Cache<Widget>| -> Vec<String> {
        cache
            .list()
            .iter()
            .map(|w| w.metadata.name.clone())
            .collect()
    };
    assert_eq!(cached(&cache), ["a"]);
    // b joins the selection, a leaves it, c is created inside it.
    store
        .guaranteed_update(&format!("{p}/b"), |w: &mut Widget| {
            w.metadata.labels.insert("tier".into(), "front".into());
        })
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{p}/a"), |w: &mut Widget| {
            w.metadata.labels.insert("tier".into(), "back".into());
        })
        .await
        .unwrap();
    let last = store
        .create(&format!("{p}/c"), &tagged("c", "red", "front"))
        .await
        .unwrap();
    let rv = last.metadata.version().unwrap();
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_for(rv))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cached(&cache), ["b", "c"]);
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_selectors_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            list_filters_by_field_selector: Shared,
            selected_watch_reports_entering_and_leaving: Shared,
            cache_of_a_selection_stays_exact: Shared,
        }
    };
}
