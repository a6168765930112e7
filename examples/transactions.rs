//! Several objects written at once: a transfer between two accounts that applies entirely or
//! not at all, a stale one that is refused naming the key that changed, and a watcher that
//! sees both changes of a transfer with one resource version.
//!
//! ```sh
//! cargo run --example transactions
//! cargo run --example transactions --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use futures::StreamExt;
use kvstore::{Json, Object, ObjectMeta, Store, WatchEvent, WatchFrom};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Account", api_version = "example.com/v1")]
struct Account {
    metadata: ObjectMeta,
    balance: i64,
}

fn account(name: &str, balance: i64) -> Account {
    Account {
        metadata: ObjectMeta::named(name),
        balance,
    }
}

/// Moves `amount` from `from` to `to` as read: both updates are compare-and-swaps on the
/// versions read, in one transaction. Returns whether it applied.
async fn transfer(
    store: &Store<Json>,
    from: &Account,
    to: &Account,
    amount: i64,
) -> Result<bool, kvstore::Error> {
    let (mut from, mut to) = (from.clone(), to.clone());
    from.balance -= amount;
    to.balance += amount;
    let outcome = store
        .txn()
        .update(&format!("/accounts/{}", from.metadata.name), &from)
        .update(&format!("/accounts/{}", to.metadata.name), &to)
        .commit()
        .await?;
    if outcome.applied() {
        println!(
            "transfer of {amount} applied at rv {}",
            outcome
                .resource_version()
                .expect("an applied transaction has one")
        );
    } else {
        for conflict in outcome.conflicts() {
            let now = conflict
                .current
                .map_or_else(|| "absent".to_owned(), |rv| format!("at rv {rv}"));
            println!(
                "transfer of {amount} refused: {} changed (now {now})",
                conflict.key
            );
        }
    }
    Ok(outcome.applied())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(async {
        let (store, url) = common::store("transactions").await?;
        println!("store: {url}");
        store.delete_prefix("/accounts").await?;
        let alice = store
            .create("/accounts/alice", &account("alice", 100))
            .await?;
        let bob = store.create("/accounts/bob", &account("bob", 20)).await?;
        let mut watch = store
            .watch_prefix::<Account>("/accounts", WatchFrom::Now)
            .await?;

        assert!(transfer(&store, &alice, &bob, 30).await?);
        // The same accounts as read before: both changed since, so nothing is written.
        assert!(!transfer(&store, &alice, &bob, 50).await?);

        // The watcher sees the two updates of the applied transfer, at one resource version.
        let mut versions = Vec::new();
        for _ in 0..2 {
            if let Some(WatchEvent::Modified(account)) = watch.next().await.transpose()? {
                println!(
                    "watch: {} now has {}",
                    account.metadata.name, account.balance
                );
                versions.extend(account.metadata.version());
            }
        }
        assert!(versions.len() == 2 && versions[0] == versions[1]);
        let total: i64 = store
            .list::<Account>("/accounts", &Default::default())
            .await?
            .items
            .iter()
            .map(|a| a.balance)
            .sum();
        println!("total across accounts: {total}");
        assert_eq!(total, 120, "money is neither made nor lost");
        Ok(())
    })
    .await
}
