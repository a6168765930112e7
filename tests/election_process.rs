//! Leader election across processes on real etcd: the leader is a child process, killed with
//! SIGKILL; another contender must be elected within TTL + 1 s.
#![cfg(feature = "etcd-tests")]
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kvstore::{ElectionEvent, EtcdBackend, EtcdConfig, Json, Store};
use kvstore_testkit::etcd::TestEtcd;

const TTL: Duration = Duration::from_secs(2);
const ENDPOINTS: &str = "KVSTORE_CONTENDER_ENDPOINTS";
const ELECTION: &str = "KVSTORE_CONTENDER_ELECTION";
/// What the child prints once elected.
const ELECTED: &str = "contender: elected";

async fn store(endpoints: &[String]) -> Store<Json> {
    let backend = EtcdBackend::connect(EtcdConfig::new(endpoints.iter().cloned()))
        .await
        .expect("connect to etcd");
    Store::new(backend, Json)
}

/// The child process's body (not a test of its own): runs when the parent test starts this
/// binary with the election in its environment; stands as contender `child` until killed.
#[tokio::test]
#[ignore = "entry point of the child process of killing_the_leader_process_elects_another"]
async fn contender_process() {
    let (Ok(endpoints), Ok(election)) = (std::env::var(ENDPOINTS), std::env::var(ELECTION)) else {
        return;
    };
    let endpoints: Vec<String> = endpoints.split(',').map(str::to_owned).collect();
    let store = store(&endpoints).await;
    let mut contest = store.contest(&election, "child", TTL).await.unwrap();
    while let Some(event) = contest.next().await {
        if let Ok(ElectionEvent::Elected { .. }) = event {
            println!("{ELECTED}");
        }
    }
}

/// Kills the child on every exit path of the test.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_process_elects_another() {
    let etcd = match TestEtcd::start().await {
        Ok(etcd) => etcd,
        Err(skipped) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{skipped}");
            }
            return;
        }
    };
    let endpoints = etcd.config().endpoints().to_vec();
    let election = format!("/kvstore-test-election/{}", uuid::Uuid::new_v4().simple());
    let mut child = ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "contender_process", "--nocapture"])
            .env(ENDPOINTS, endpoints.join(","))
            .env(ELECTION, &election)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the contender process"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (elected_tx, mut elected) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(ELECTED) {
                let _ = elected_tx.send(());
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), elected.recv())
        .await
        .expect("the child process is elected")
        .expect("the child process is running");

    let store = store(&endpoints).await;
    let mut survivor = store.contest(&election, "survivor", TTL).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), survivor.next()).await;
    assert!(
        matches!(first, Ok(Some(Ok(ElectionEvent::Changed { ref leader }))) if leader == "child"),
        "{first:?}"
    );

    child.0.kill().expect("kill the leader process");
    let killed = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(10), survivor.next()).await;
    let failover = killed.elapsed();
    assert!(
        matches!(next, Ok(Some(Ok(ElectionEvent::Elected { .. })))),
        "{next:?}"
    );
    println!("leader process killed: new leader elected after {failover:?} (ttl {TTL:?})");
    assert!(
        failover <= TTL + Duration::from_secs(1),
        "failover took {failover:?}"
    );
}
