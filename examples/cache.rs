//! A local cache of `/services`, and a controller reacting to its events.
//!
//! The cache lists the prefix, then follows the watch; reads are served from memory. A
//! controller task prints every change it is told about, while the main task writes.
//!
//! ```sh
//! cargo run --example cache
//! cargo run --example cache --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use futures::StreamExt;
use kvstore::{Cache, CacheEvent, LabelSelector, Object, ObjectMeta, Preconditions};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Service", api_version = "example.com/v1")]
struct Service {
    metadata: ObjectMeta,
    address: String,
    replicas: u32,
}

fn service(name: &str, tier: &str, replicas: u32) -> Service {
    Service {
        metadata: ObjectMeta::named(name).with_label("tier", tier),
        address: format!("{name}.internal:8080"),
        replicas,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(run()).await
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (store, description) = common::store("cache").await?;
    println!("store: {description}");
    store.delete_prefix("/services").await?;
    store
        .create("/services/web", &service("web", "front", 2))
        .await?;
    store
        .create("/services/db", &service("db", "back", 1))
        .await?;

    let cache = Cache::<Service>::new(&store, "/services")?;
    cache.wait_until_synced().await;
    println!(
        "cache synced at resource version {}: {} services",
        cache.resource_version(),
        cache.len()
    );

    // A controller: told of every service present, then of each change.
    let mut events = cache.events();
    let controller = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                CacheEvent::Added(s) => {
                    println!(
                        "  controller: {} added ({} replicas)",
                        s.metadata.name, s.replicas
                    )
                }
                CacheEvent::Modified { old, new } => println!(
                    "  controller: {} scaled {} -> {}",
                    new.metadata.name, old.replicas, new.replicas
                ),
                CacheEvent::Deleted(s) => {
                    println!("  controller: {} deleted", s.metadata.name);
                    return;
                }
            }
        }
    });

    println!("\n== scale web, then read our own write from the cache");
    let scaled = store
        .guaranteed_update("/services/web", |s: &mut Service| s.replicas = 5)
        .await?;
    let version = scaled
        .metadata
        .version()
        .ok_or("a written object has a version")?;
    cache.wait_for(version).await?;
    let web = cache.get("web").ok_or("web is cached")?;
    println!("cache: web has {} replicas at rv {version}", web.replicas);

    println!("\n== reads by label, from memory");
    let front: LabelSelector = "tier=front".parse()?;
    for s in cache.list_by(&front) {
        println!("tier=front: {} at {}", s.metadata.name, s.address);
    }

    println!("\n== delete db");
    store
        .delete::<Service>("/services/db", &Preconditions::default())
        .await?;
    controller.await?;
    println!("cache now holds {} service(s)", cache.len());
    Ok(())
}
