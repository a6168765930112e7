//! A watch starting exactly at etcd's compaction revision: etcd releases before 3.4.34 and
//! 3.5.15 drop a deletion made at that revision (etcd issue 18089), so the store must say
//! `Gone` rather than deliver the changes after it without the deletion.

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Preconditions, ResourceVersion, Store, WatchEvent, WatchFrom};
use kvstore_testkit::etcd::TestEtcd;
use kvstore_testkit::or_skip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_just_before_a_compacted_deletion_is_gone_or_delivers_it() {
    // Compaction is store-wide: a server of the test's own.
    let Some(etcd) = or_skip(TestEtcd::start().await) else {
        return;
    };
    let store = Store::new(etcd.backend().await, Json);
    store.create("/c/a", &widget("a", "red")).await.unwrap();
    let deleted: Widget = store.delete("/c/a", &Preconditions::none()).await.unwrap();
    let at =
        ResourceVersion::try_from(deleted.metadata.resource_version.as_deref().unwrap()).unwrap();
    store.create("/c/b", &widget("b", "red")).await.unwrap();
    store.compact(at).await.unwrap();

    let before = ResourceVersion::new(at.revision() - 1).unwrap();
    match store
        .watch_prefix::<Widget>("/c", WatchFrom::Version(before))
        .await
    {
        Err(err) => assert!(err.is_gone(), "{err}"),
        Ok(mut events) => match events.next().await.unwrap() {
            Err(err) => assert!(err.is_gone(), "{err}"),
            Ok(WatchEvent::Deleted(w)) => assert_eq!(w.metadata.name, "a"),
            Ok(other) => panic!("the deletion at {at} was skipped: {other:?}"),
        },
    }
}
