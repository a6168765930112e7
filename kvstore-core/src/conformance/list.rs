//! Lists: order, snapshot revision, directories, pagination, selectors, bad items.

use super::crud::put_raw;
use super::{unique_prefix, widget, TestCodec, Widget};
use crate::selector::LabelSelector;
use crate::store::{ListOptions, Store};

fn names(list: &crate::ObjectList<Widget>) -> Vec<String> {
    list.items.iter().map(|w| w.metadata.name.clone()).collect()
}

/// A list is ordered by key and its resource version is the store revision at read time, even
/// when the last write was elsewhere.
pub async fn list_is_ordered_with_store_revision<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    for name in ["c", "a", "b"] {
        store
            .create(&format!("{prefix}/{name}"), &widget(name, "red"))
            .await
            .unwrap();
    }
    let elsewhere = store
        .create(&format!("{}/x", unique_prefix()), &widget("x", "red"))
        .await
        .unwrap();
    let list = store
        .list::<Widget>(&prefix, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(names(&list), ["a", "b", "c"]);
    let list_rv = list.metadata.resource_version.revision();
    assert!(list_rv >= super::revision_of(&elsewhere));
    assert!(list.metadata.continue_token.is_none());
    assert!(list
        .items
        .iter()
        .all(|w| w.metadata.resource_version.is_some()));
}

/// Listing a prefix nobody wrote gives an empty list, not an error.
pub async fn list_missing_prefix_is_empty<C: TestCodec>(store: Store<C>) {
    let list = store
        .list::<Widget>(&unique_prefix(), &ListOptions::default())
        .await
        .unwrap();
    assert!(list.is_empty());
    // It is still read at a revision of the store.
    let now = store.current_resource_version().await.unwrap();
    assert!(list.metadata.resource_version <= now);
}

/// `/users` lists `/users/...`, never `/users2/...` nor `/users` itself.
pub async fn list_prefix_excludes_siblings<C: TestCodec>(store: Store<C>) {
    let root = unique_prefix();
    for key in ["users/a", "users/b/c", "users2/a", "users"] {
        store
            .create(&format!("{root}/{key}"), &widget("w", "red"))
            .await
            .unwrap();
    }
    let list = store
        .list::<Widget>(&format!("{root}/users"), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
}

/// Every page is read at the first page's revision: writes between pages do not show.
pub async fn list_pages_read_one_snapshot<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    for i in 0..5 {
        store
            .create(&format!("{prefix}/{i}"), &widget(&i.to_string(), "red"))
            .await
            .unwrap();
    }
    let first = store
        .list::<Widget>(&prefix, &ListOptions::limit(2))
        .await
        .unwrap();
    assert_eq!(names(&first), ["0", "1"]);
    let token = first.continue_token().expect("more pages").to_owned();
    // Writes between pages: a new key, an update and a delete, all after the snapshot.
    store
        .create(&format!("{prefix}/25"), &widget("25", "red"))
        .await
        .unwrap();
    store
        .guaranteed_update(&format!("{prefix}/3"), |w: &mut Widget| {
            w.color = "blue".into()
        })
        .await
        .unwrap();
    store
        .delete::<Widget>(&format!("{prefix}/4"), &Default::default())
        .await
        .unwrap();
    let second = store
        .list::<Widget>(&prefix, &ListOptions::limit(2).continue_from(token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["2", "3"]);
    assert_eq!(second.items[1].color, "red");
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    let third = store
        .list::<Widget>(
            &prefix,
            &ListOptions::limit(2).continue_from(second.continue_token().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(&third), ["4"]);
    assert!(third.continue_token().is_none());
    let now = store
        .list::<Widget>(&prefix, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(names(&now), ["0", "1", "2", "25", "3"]);
}

/// A continue token that is garbage or belongs to another prefix is rejected.
pub async fn list_invalid_continue_token_is_rejected<C: TestCodec>(store: Store<C>) {
    let (a, b) = (unique_prefix(), unique_prefix());
    for i in 0..3 {
        store
            .create(&format!("{a}/{i}"), &widget("w", "red"))
            .await
            .unwrap();
    }
    let page = store
        .list::<Widget>(&a, &ListOptions::limit(1))
        .await
        .unwrap();
    let token = page.continue_token().unwrap();
    for bad in ["garbage", "", token] {
        let err = store
            .list::<Widget>(&b, &ListOptions::limit(1).continue_from(bad))
            .await
            .unwrap_err();
        assert!(err.is_invalid_argument(), "{bad:?}: {err}");
    }
}

/// Label selectors filter, also across pages.
pub async fn list_filters_by_label_selector<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    for i in 0..10 {
        let mut w = widget(&i.to_string(), "red");
        w.metadata.labels.insert(
            "parity".into(),
            if i % 2 == 0 { "even" } else { "odd" }.into(),
        );
        store.create(&format!("{prefix}/{i}"), &w).await.unwrap();
    }
    let even = ListOptions::default().labels(LabelSelector::eq("parity", "even"));
    let all_even = store.list::<Widget>(&prefix, &even).await.unwrap();
    assert_eq!(names(&all_even), ["0", "2", "4", "6", "8"]);
    let odd: LabelSelector = "parity!=even".parse().unwrap();
    let mut options = ListOptions::limit(2).labels(odd);
    let mut seen = Vec::new();
    loop {
        let page = store.list::<Widget>(&prefix, &options).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(names(&page));
        match page.metadata.continue_token {
            Some(token) => options.continue_token = Some(token),
            None => break,
        }
    }
    assert_eq!(seen, ["1", "3", "5", "7", "9"]);
    let none = ListOptions::default().labels("missing".parse().unwrap());
    assert!(store
        .list::<Widget>(&prefix, &none)
        .await
        .unwrap()
        .is_empty());
}

/// One undecodable item fails the list with an error naming its key.
pub async fn list_reports_corrupt_item<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    store
        .create(&format!("{prefix}/a"), &widget("a", "red"))
        .await
        .unwrap();
    let bad = format!("{prefix}/b");
    put_raw(&store, &bad, b"\x00\x01 not a value").await;
    store
        .create(&format!("{prefix}/c"), &widget("c", "red"))
        .await
        .unwrap();
    let err = store
        .list::<Widget>(&prefix, &ListOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_codec(), "{err}");
    assert_eq!(err.key(), Some(bad.as_str()));
}

/// A continue token whose revision was compacted is Gone.
pub async fn list_continue_after_compaction_is_gone<C: TestCodec>(store: Store<C>) {
    let prefix = unique_prefix();
    for i in 0..3 {
        store
            .create(&format!("{prefix}/{i}"), &widget("w", "red"))
            .await
            .unwrap();
    }
    let page = store
        .list::<Widget>(&prefix, &ListOptions::limit(1))
        .await
        .unwrap();
    let token = page.continue_token().unwrap().to_owned();
    for i in 0..2 {
        store
            .guaranteed_update(&format!("{prefix}/{i}"), |w: &mut Widget| w.count += 1)
            .await
            .unwrap();
    }
    let now = store.current_resource_version().await.unwrap();
    store.compact(now).await.unwrap();
    let err = store
        .list::<Widget>(&prefix, &ListOptions::limit(1).continue_from(token))
        .await
        .unwrap_err();
    assert!(err.is_gone(), "{err}");
    assert_eq!(
        store
            .list::<Widget>(&prefix, &ListOptions::default())
            .await
            .unwrap()
            .len(),
        3
    );
}

/// This file's cases, for [`conformance_suite!`](crate::conformance_suite): a new case is
/// listed here, beside its function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_list_cases {
    (#[$attr:meta] $factory:expr) => {
        $crate::__conformance_cases! { #[$attr] $factory;
            list_is_ordered_with_store_revision: Shared,
            list_missing_prefix_is_empty: Shared,
            list_prefix_excludes_siblings: Shared,
            list_pages_read_one_snapshot: Shared,
            list_invalid_continue_token_is_rejected: Shared,
            list_filters_by_label_selector: Shared,
            list_reports_corrupt_item: Shared,
            list_continue_after_compaction_is_gone: Exclusive,
        }
    };
}
