//! `kvstore leases`, `locks` and `elections` on a SQLite file another process holds a lock and
//! stands in an election on: who holds what, who waits, and until when.

mod common;

use std::time::Duration;

use common::SqliteStore;
use kvstore::coordination::{contenders, Election, Lock};
use kvstore::{Json, Object, ObjectMeta, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "User", api_version = "example.com/v1")]
struct User {
    metadata: ObjectMeta,
}

const TTL: Duration = Duration::from_secs(30);

/// What `kvstore ARGS -o json` printed, run off the runtime's threads.
async fn json_of(store: &SqliteStore, args: &[&str]) -> Value {
    let mut command = store.kvstore();
    command.args(args).args(["-o", "json"]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_elections_and_leases_show_who_holds_what_until_when() {
    let sqlite = SqliteStore::new();
    let store: Store<Json> = kvstore::connect(&sqlite.url).await.unwrap();
    let users = store.default_collection::<User>().unwrap();

    let guard = Lock::for_collection(&users, "alice", TTL)
        .unwrap()
        .acquire()
        .await
        .unwrap();
    let waiter = Lock::for_collection(&users, "alice", TTL).unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire().await.map(drop) });
    let lock_prefix = format!("{}/lock", users.coordination_key("alice").unwrap());
    while contenders(&store, &lock_prefix).await.unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let leader = Election::for_collection(&users, "alice", "node-a", TTL)
        .await
        .unwrap();
    let _candidate = Election::for_collection(&users, "alice", "node-b", TTL)
        .await
        .unwrap();

    let locks = json_of(&sqlite, &["locks", "User", "alice"]).await;
    assert_eq!(locks[0]["role"], "holder");
    assert_eq!(locks[0]["fencing_token"], guard.fencing_token());
    assert_eq!(
        locks[0]["lease"],
        format!("{:016x}", guard.lease().unwrap().0)
    );
    assert_eq!(locks[0]["ttl_seconds"], TTL.as_secs());
    let left = locks[0]["remaining_seconds"].as_u64().unwrap();
    assert!(left > 0 && left <= TTL.as_secs(), "{locks}");
    assert_eq!(locks[1]["role"], "waiting 1");
    assert_eq!(locks.as_array().unwrap().len(), 2);
    let mut wide = sqlite.kvstore();
    wide.args(["locks", "User", "alice"]);
    let wide = tokio::task::spawn_blocking(move || common::stdout_of(&mut wide))
        .await
        .unwrap();
    let lines: Vec<&str> = wide.lines().collect();
    assert!(lines[0].starts_with("ROLE       TOKEN  LEASE"), "{wide}");
    assert!(lines[1].starts_with("holder "), "{wide}");
    assert!(lines[2].starts_with("waiting 1 "), "{wide}");
    // The same queue by its prefix.
    assert_eq!(json_of(&sqlite, &["locks", &lock_prefix]).await, locks);

    let elections = json_of(&sqlite, &["elections", "User", "alice"]).await;
    assert_eq!(elections[0]["role"], "leader");
    assert_eq!(elections[0]["id"], "node-a");
    assert_eq!(
        elections[0]["fencing_token"],
        leader.fencing_token().unwrap()
    );
    assert_eq!(elections[1]["role"], "candidate 1");
    assert_eq!(elections[1]["id"], "node-b");

    let leases = json_of(&sqlite, &["leases"]).await;
    let holder = leases
        .as_array()
        .unwrap()
        .iter()
        .find(|lease| lease["lease"] == locks[0]["lease"])
        .unwrap_or_else(|| panic!("the holder's lease is not listed: {leases}"));
    assert_eq!(holder["keys"][0], locks[0]["key"]);
    assert_eq!(leases.as_array().unwrap().len(), 4); // two lock entries, two candidates

    guard.unlock().await.unwrap();
    waiting.await.unwrap().unwrap();
    sqlite
        .kvstore()
        .args(["locks", "User"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("a kind needs the object's name"));
}
