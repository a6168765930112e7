//! Test-only fixtures for kvstore's own tests and benchmarks (not published).
//!
//! - [`etcd`] (feature `etcd`): a real etcd for a test — an existing cluster, a local `etcd`
//!   process, or etcd in a Docker container started through `testcontainers` — and
//!   multi-member clusters of local processes for fault tests.
//! - [`history`] (feature `history`): histories of concurrent clients under faults, checked
//!   for linearizability and the watch guarantees.
//! - [`postgres`] (feature `postgres`): a PostgreSQL server per test binary (or the one
//!   `KVSTORE_POSTGRES_URL` names) with a schema per test, and servers of a test's own to kill
//!   and restart.
//! - [`tls`] (feature `tls`): certificate authorities and certificates made at run time.
//! - [`zookeeper`] (feature `zookeeper`): a standalone ZooKeeper server of the test's own, to
//!   kill and restart; or a root znode of the test's own on a server shared with the tests
//!   running at the same time (or on an existing ensemble), with its config and backend.
//! - [`ports`]: free loopback ports for the servers they start.
//! - [`proxy`]: a TCP proxy that delays, holds (blackhole) or cuts connections.
//!
//! A fixture that cannot get what it needs returns [`Skipped`] with the reason on a developer
//! machine, and panics under `CI=true` ([`under_ci`]), where a missing server is a failure.

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "history")]
pub mod history;
pub mod ports;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod proxy;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "zookeeper")]
pub mod zookeeper;

/// Whether tests run under CI (`CI=true` or `CI=1`), where a missing server is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Why a test cannot run here (only outside CI): for the test to print before it returns.
#[derive(Debug, Clone)]
pub struct Skipped(pub String);

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fixture `found`, or `None` after saying on stderr why the test is skipped (outside CI;
/// under CI a missing server panics instead of giving [`Skipped`]).
#[allow(clippy::print_stderr)] // the one place a skipped test says why
pub fn or_skip<T>(found: Result<T, Skipped>) -> Option<T> {
    found.map_err(|skipped| eprintln!("{skipped}")).ok()
}

/// A random 64-bit number, for names that concurrent tests must not share.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Runs `op` until it succeeds, again (after 50 ms) while its error is retryable — a server
/// restarting, a refused connection — or ambiguous (a connection lost after a write was sent:
/// repeating it may apply it twice, which the fault tests that use this allow for), for fault
/// tests. Panics on an error that is not retryable,
/// on a call that takes more than 15 s (an operation must fail or succeed, never hang), and
/// when the store has not answered after 400 tries.
pub async fn until_answered<T, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kvstore_core::Result<T>>,
{
    for _ in 0..400 {
        let attempt = tokio::time::timeout(std::time::Duration::from_secs(15), op())
            .await
            .expect("an operation must fail or succeed, never hang");
        match attempt {
            Ok(answer) => return answer,
            Err(err) if err.is_retryable() || err.is_ambiguous() => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(err) => panic!("unexpected error: {err}"),
        }
    }
    panic!("the store never came back");
}
