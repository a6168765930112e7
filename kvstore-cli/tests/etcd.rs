//! The `kvstore` binary on a real etcd: what it writes, `etcdctl` reads and `kvstore decode`
//! turns back into the object (encrypted too); a refused password is exit code 5 and never
//! printed.
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

mod common;

use std::process::Command as Process;

use common::{data, kvstore, stdout_of};
use kvstore_testkit::etcd::{auth, TestEtcd};
use kvstore_testkit::random_u64;
use predicates::prelude::*;

/// `etcdctl get KEY --print-value-only` against `endpoints`: the stored bytes and the newline
/// etcdctl prints after them.
fn etcdctl_value(endpoints: &[String], key: &str) -> Vec<u8> {
    let output = Process::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(["get", key, "--print-value-only"])
        .output()
        .expect("run etcdctl (Debian's etcd-client; scripts/install-deps installs it)");
    assert!(
        output.status.success(),
        "etcdctl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_etcdctl_reads_decodes_to_the_object_written() {
    let etcd = match TestEtcd::start().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let endpoints = etcd.config().endpoints().to_vec();
    // A namespace of the test's own: the endpoints may be a shared cluster's.
    let namespace = format!("/kvstore-cli-{:016x}", random_u64());
    let hosts = endpoints.join(",").replace("http://", "");
    let url = format!("etcd://{hosts}?namespace={namespace}");
    let key = common::KEY_K1;

    stdout_of(kvstore(&url).args(["apply", "-f"]).arg(data("users.yaml")));
    let stored = kvstore(&url)
        .args(["get", "User", "alice", "-o", "yaml"])
        .output()
        .unwrap();
    assert!(stored.status.success());
    let value = etcdctl_value(&endpoints, &format!("{namespace}/user/alice"));
    let decoded = stdout_of(
        kvstore("")
            .args(["decode", "-o", "yaml"])
            .write_stdin(value),
    );
    // Decoded bytes carry no resource version (the store gives it from the revision).
    let expected = String::from_utf8(stored.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.contains("resourceVersion"))
        .map(|line| format!("{line}\n"))
        .collect::<String>();
    assert_eq!(decoded, expected);

    stdout_of(
        kvstore(&url)
            .args(["apply", "--prefix", "/vault", "--encryption-key", key, "-f"])
            .arg(data("users.yaml")),
    );
    let sealed = etcdctl_value(&endpoints, &format!("{namespace}/vault/alice"));
    assert!(sealed.starts_with(b"kvse"));
    kvstore("")
        .arg("decode")
        .write_stdin(sealed.clone())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("encrypted with key \"k1\""));
    // Encrypted values are bound to their key as the store names it: without the namespace
    // the URL gives (etcdctl shows it with).
    let decoded = stdout_of(
        kvstore("")
            .args([
                "decode",
                "-o",
                "json",
                "--encryption-key",
                key,
                "--key",
                "/vault/alice",
            ])
            .write_stdin(sealed),
    );
    assert!(
        decoded.contains("\"email\": \"alice@example.com\""),
        "{decoded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_exit_code_5_and_never_printed() {
    let etcd = match auth::server_with_auth("app", "app-password", "/").await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let hosts = etcd.config().endpoints().join(",").replace("http://", "");
    let refused = format!("etcd://app:wrong-password@{hosts}");
    kvstore(&refused)
        .arg("health")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("wrong-password").not());
    let accepted = format!("etcd://app:app-password@{hosts}");
    let health = stdout_of(kvstore(&accepted).arg("health"));
    assert!(health.starts_with("ok: resource version"), "{health}");
}
