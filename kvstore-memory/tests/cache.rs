//! A cache's progress while it lists a big prefix: what a progress bar follows.

use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Cache, Store, WatcherConfig};
use kvstore_memory::MemoryBackend;

#[tokio::test]
async fn a_big_list_reports_its_progress_before_the_cache_is_synced() {
    const OBJECTS: usize = 3000;
    let store = Store::new(MemoryBackend::new(), Json);
    for i in 0..OBJECTS {
        let name = format!("w{i:05}");
        store
            .create(&format!("/big/{name}"), &widget(&name, "red"))
            .await
            .unwrap();
    }
    let config = WatcherConfig {
        page_size: 500,
        ..WatcherConfig::default()
    };
    let cache: Cache<Widget> = Cache::with_config(&store, "/big", config).unwrap();
    let mut progress = cache.progress();
    let mut seen = Vec::new();
    loop {
        progress.changed().await.unwrap();
        let now = *progress.borrow_and_update();
        if now.synced {
            assert_eq!(now.listing, None);
            assert_eq!(now.lists, 1);
            assert_eq!(
                now.revision,
                store.current_resource_version().await.unwrap()
            );
            break;
        }
        seen.push(now.listing.expect("listing until synced"));
    }
    assert!(
        seen.iter().any(|&listed| 0 < listed && listed < OBJECTS),
        "no progress before the list completed: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(cache.len(), OBJECTS);
}
