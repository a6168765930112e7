//! Retention on a real ZooKeeper: history compacted as writes go on, and the values of writes
//! interrupted between their steps found and removed by compaction.

use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{ResourceVersion, Store, WatchFrom, WatchOptions};
use kvstore_testkit::until_answered;
use kvstore_testkit::zookeeper::TestZooKeeper;
use kvstore_zookeeper::zookeeper_client as zk;
use kvstore_zookeeper::ZooKeeperBackend;

async fn server() -> Option<TestZooKeeper> {
    kvstore_testkit::or_skip(TestZooKeeper::shared().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_compacted_as_writes_go_on() {
    let Some(zk) = server().await else { return };
    let config = zk.config().retain(Some(100));
    let store = Store::new(
        until_answered(|| ZooKeeperBackend::connect(config.clone())).await,
        Json,
    );
    let widgets = store.collection::<Widget>("/widgets").unwrap();
    widgets.create(&widget("w", "red")).await.unwrap();
    for _ in 0..400 {
        widgets
            .guaranteed_update("w", |w| w.count += 1)
            .await
            .unwrap();
    }
    assert_eq!(widgets.get("w").await.unwrap().count, 400);
    // At most `retain` revisions, and the tenth of it a compaction waits for, once the
    // compaction the last writes started (in a task of its own) is done.
    let client = zk.raw_client().await;
    let log_dir = format!("{}/log", zk.root());
    let mut entries = client.list_children(&log_dir).await.unwrap().len();
    for _ in 0..50 {
        if entries <= 111 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        entries = client.list_children(&log_dir).await.unwrap().len();
    }
    assert!((100..=111).contains(&entries), "{entries} log entries");
    let from_start = WatchOptions::starting(WatchFrom::Version(ResourceVersion::new(1).unwrap()));
    let err = widgets.watch(&from_start).await.err().expect("compacted");
    assert!(err.is_gone(), "{err}");
}

/// A value large enough to be written ahead of its commit's `multi`, in two chunks.
fn large(name: &str) -> Widget {
    widget(name, &"x".repeat(700 * 1024))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_of_interrupted_writes_are_removed_by_compaction() {
    let Some(zk) = server().await else { return };
    let config = zk.config().retain(None);
    let store = Store::new(
        until_answered(|| ZooKeeperBackend::connect(config.clone())).await,
        Json,
    );
    let widgets = store.collection::<Widget>("/widgets").unwrap();
    widgets.create(&large("kept")).await.unwrap();
    let values_dir = format!("{}/values", zk.root());
    let client = zk.raw_client().await;
    let live = client.list_children(&values_dir).await.unwrap();
    assert_eq!(live.len(), 2, "one value in two chunks: {live:?}");

    // The state a client leaves when it dies after writing a commit's values ahead, before
    // its `multi`: its first chunk only, or every chunk. Their revision is the next one, which
    // another write then takes.
    let next = store.current_resource_version().await.unwrap().revision() + 1;
    let acls = zk::Acls::anyone_all();
    let options = zk::CreateMode::Persistent.with_acls(acls);
    let mut orphans = Vec::new();
    for (id, chunks) in [("aaaa", 1), ("bbbb", 2)] {
        for chunk in 0..chunks {
            let name = match chunk {
                0 => format!("{next:020}-{id}"),
                n => format!("{next:020}-{id}~{n}"),
            };
            client
                .create(&format!("{values_dir}/{name}"), b"partial", &options)
                .await
                .unwrap();
            orphans.push(name);
        }
    }
    widgets.create(&large("later")).await.unwrap();
    // Again, for a revision a small write then takes (its log entry is not read by compaction).
    let next = store.current_resource_version().await.unwrap().revision() + 1;
    let name = format!("{next:020}-cccc");
    client
        .create(&format!("{values_dir}/{name}"), b"partial", &options)
        .await
        .unwrap();
    orphans.push(name);
    for n in 0..5 {
        widgets
            .create(&widget(&format!("small{n}"), "red"))
            .await
            .unwrap();
    }
    let head = store.current_resource_version().await.unwrap();
    store.compact(head).await.unwrap();

    let left = client.list_children(&values_dir).await.unwrap();
    for orphan in &orphans {
        assert!(
            !left.contains(orphan),
            "{orphan} survived compaction: {left:?}"
        );
    }
    assert_eq!(left.len(), 4, "the two live values stay: {left:?}");
    assert_eq!(widgets.get("kept").await.unwrap(), {
        let mut kept = large("kept");
        kept.metadata = widgets.get("kept").await.unwrap().metadata;
        kept
    });
    assert_eq!(widgets.get("later").await.unwrap().color.len(), 700 * 1024);
}
