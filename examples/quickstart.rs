//! The classic flow on the in-memory store: register kinds, create, get, list, update with
//! compare-and-swap, see a conflict, watch a prefix while writing, delete.
//!
//! ```sh
//! cargo run --example quickstart
//! # the same flow on etcd (keys under /kvstore-quickstart):
//! cargo run --example quickstart --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! # on ZooKeeper (under the root znode /kvstore-example):
//! cargo run --example quickstart --features zookeeper -- --store "zk://127.0.0.1:2181/kvstore-example"
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use futures::StreamExt;

use kvstore::{ListOptions, Object, ObjectMeta, Preconditions, Scheme, WatchEvent, WatchFrom};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "User", api_version = "example.com/v1")]
struct User {
    metadata: ObjectMeta,
    email: String,
    admin: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Group", api_version = "example.com/v1")]
struct Group {
    metadata: ObjectMeta,
    members: Vec<String>,
}

fn user(name: &str, email: &str) -> User {
    User {
        metadata: ObjectMeta::named(name).with_label("team", "platform"),
        email: email.to_owned(),
        admin: false,
    }
}

fn describe(event: &WatchEvent<User>) -> String {
    match event {
        WatchEvent::Added(u) => format!("added {} (rv {})", u.metadata.name, rv(u)),
        WatchEvent::Modified(u) => format!(
            "modified {} (rv {}) email={}",
            u.metadata.name,
            rv(u),
            u.email
        ),
        WatchEvent::Deleted(u) => format!("deleted {} (rv {})", u.metadata.name, rv(u)),
        WatchEvent::InitialStateDone(resource_version) => {
            format!("initial state done at rv {resource_version}")
        }
        WatchEvent::Bookmark(resource_version) => format!("bookmark at rv {resource_version}"),
    }
}

fn rv<K: Object>(object: &K) -> &str {
    object.metadata().resource_version.as_deref().unwrap_or("-")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(run()).await
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (store, description) = common::store("quickstart").await?;
    let mut scheme = Scheme::new();
    scheme.register::<User>()?.register::<Group>()?;
    let store = store.with_scheme(scheme);
    println!("store: {description}, codec: json");
    // Start from a clean slate (a persistent etcd keeps the last run's objects).
    for prefix in ["/users", "/directory"] {
        store.delete_prefix(prefix).await?;
    }

    // Watch /users from now on, in the background, while we write.
    let mut events = store.watch_prefix::<User>("/users", WatchFrom::Now).await?;
    let watcher = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(event) = events.next().await {
            let event = event.expect("watch error");
            lines.push(describe(&event));
            if matches!(event, WatchEvent::Deleted(_)) {
                break;
            }
        }
        lines
    });

    println!("\n== create");
    let alice = store
        .create("/users/alice", &user("alice", "alice@example.com"))
        .await?;
    let bob = store
        .create("/users/bob", &user("bob", "bob@example.com"))
        .await?;
    for u in [&alice, &bob] {
        println!(
            "created {} uid={} rv={}",
            u.metadata.name,
            u.metadata.uid.unwrap(),
            rv(u)
        );
    }
    match store
        .create("/users/alice", &user("alice", "again@example.com"))
        .await
    {
        Err(err) => println!("creating alice again: {err}"),
        Ok(_) => unreachable!("alice exists"),
    }

    println!("\n== get");
    let got: User = store.get("/users/alice").await?;
    println!(
        "got {} <{}> at rv {}",
        got.metadata.name,
        got.email,
        rv(&got)
    );

    println!("\n== list");
    let users = store
        .list::<User>("/users", &ListOptions::default())
        .await?;
    println!(
        "{} users at rv {}:",
        users.len(),
        users.metadata.resource_version
    );
    for u in &users.items {
        println!("  {} <{}>", u.metadata.name, u.email);
    }

    println!("\n== update with compare-and-swap");
    let mut promoted = got.clone();
    promoted.admin = true;
    let promoted = store.update("/users/alice", &promoted).await?;
    println!("alice is admin now, rv {} -> {}", rv(&got), rv(&promoted));

    println!("\n== a conflicting update");
    let mut stale = got.clone();
    stale.email = "stale@example.com".into();
    match store.update("/users/alice", &stale).await {
        Err(err) if err.is_conflict() => println!("stale write refused: {err}"),
        other => unreachable!("expected a conflict, got {other:?}"),
    }
    let fixed = store
        .guaranteed_update("/users/alice", |u: &mut User| {
            u.email = "alice@example.org".into()
        })
        .await?;
    println!(
        "read-modify-write instead: email={} rv {}",
        fixed.email,
        rv(&fixed)
    );

    println!("\n== several kinds under one prefix, decoded by the scheme");
    let admins = Group {
        metadata: ObjectMeta::named("admins"),
        members: vec!["alice".into()],
    };
    store.create("/directory/groups/admins", &admins).await?;
    let mut copy = fixed.clone();
    copy.metadata.resource_version = None; // a create never carries a resource version
    store.create("/directory/users/alice", &copy).await?;
    for object in store
        .list_dynamic("/directory", &ListOptions::default())
        .await?
    {
        println!("  {} {}", object.type_meta(), object.metadata().name);
    }

    println!("\n== delete");
    let deleted: User = store.delete("/users/bob", &Preconditions::none()).await?;
    println!("deleted {} at rv {}", deleted.metadata.name, rv(&deleted));

    println!("\n== what the watcher saw");
    for line in watcher.await? {
        println!("  {line}");
    }
    Ok(())
}
