//! Real processes on one file: an acknowledged write survives `kill -9` of the process that
//! made it, and a second process writing the same file is seen by this one's watches and
//! compare-and-swap. The child processes are this test binary, started again with a mode in its
//! environment.
#![allow(clippy::print_stdout)] // the child reports to its parent on stdout

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Store, WatchEvent, WatchOptions};
use kvstore_sqlite::{SqliteBackend, SqliteConfig};

const PATH: &str = "KVSTORE_SQLITE_CHILD_PATH";
const MODE: &str = "KVSTORE_SQLITE_CHILD_MODE";
const INCREMENTS: u64 = 100;

fn counter(name: &str, count: u64) -> Widget {
    Widget {
        count,
        ..widget(name, "counter")
    }
}

async fn store(path: &Path) -> Store<Json> {
    let config = SqliteConfig::new(path).poll_interval(Duration::from_millis(50));
    Store::new(
        SqliteBackend::open(config).await.expect("the store opens"),
        Json,
    )
}

async fn increment(store: &Store<Json>, times: u64) {
    for _ in 0..times {
        store
            .guaranteed_update("/counters/shared", |c: &mut Widget| c.count += 1)
            .await
            .expect("the increment commits");
    }
}

/// The child's body (not a test of its own): runs when a parent test starts this binary with
/// a mode in its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "entry point of the child processes of the tests below"]
async fn child_process() {
    let (Ok(path), Ok(mode)) = (std::env::var(PATH), std::env::var(MODE)) else {
        return;
    };
    let store = store(Path::new(&path)).await;
    match mode.as_str() {
        // Creates objects until killed, reporting each acknowledged one.
        "write-until-killed" => {
            for i in 0.. {
                let name = format!("n{i}");
                let created = store
                    .create(&format!("/written/{name}"), &counter(&name, i))
                    .await
                    .expect("the create commits");
                let rv = created.metadata.resource_version.unwrap_or_default();
                println!("acknowledged {name} {rv}");
            }
        }
        "increment" => {
            increment(&store, INCREMENTS).await;
            println!("done");
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// Kills the child on every exit path of a test.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(path: &Path, mode: &str) -> ChildGuard {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env(PATH, path)
        .env(MODE, mode)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts");
    ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_write_survives_kill_9_of_its_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut child = spawn_child(&path, "write-until-killed");
    let stdout = child.0.stdout.take().unwrap();
    let acknowledged = tokio::task::spawn_blocking(move || {
        let mut acknowledged = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("acknowledged ") {
                let (name, rv) = rest.split_once(' ').unwrap();
                acknowledged.push((name.to_owned(), rv.to_owned()));
                if acknowledged.len() == 200 {
                    break;
                }
            }
        }
        acknowledged
    });
    let acknowledged = acknowledged.await.unwrap();
    child.0.kill().unwrap(); // SIGKILL, mid-write: the child never stops on its own
    child.0.wait().unwrap();
    assert_eq!(acknowledged.len(), 200, "the child stopped early");

    let store = store(&path).await;
    for (name, rv) in &acknowledged {
        let found: Widget = store
            .get(&format!("/written/{name}"))
            .await
            .unwrap_or_else(|e| panic!("acknowledged {name} is lost: {e}"));
        assert_eq!(
            found.metadata.resource_version.as_deref(),
            Some(rv.as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_writing_the_file_is_seen_by_watches_and_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store(&path).await;
    store
        .create("/counters/shared", &counter("shared", 0))
        .await
        .unwrap();
    let counters = store.collection::<Widget>("/counters").unwrap();
    let mut events = counters.watch(&WatchOptions::default()).await.unwrap();

    let mut child = spawn_child(&path, "increment");
    increment(&store, INCREMENTS).await;
    let finished = tokio::task::spawn_blocking(move || child.0.wait().unwrap());
    assert!(finished.await.unwrap().success(), "the child failed");

    // Both processes' increments count: none was lost to the other's.
    let total = store.get::<Widget>("/counters/shared").await.unwrap();
    assert_eq!(total.count, 2 * INCREMENTS);
    // The watch sees every one of them, in order: the child's writes too.
    let mut seen = 0;
    while seen < 2 * INCREMENTS {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the watch delivers the other process's writes")
            .unwrap()
            .unwrap();
        let WatchEvent::Modified(c) = event else {
            panic!("expected a modification, got {event:?}");
        };
        seen += 1;
        assert_eq!(c.count, seen);
    }
}
