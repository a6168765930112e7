//! A kind that outlives its schema: `Server` v1 (one `address` string) becomes v2 (`host`,
//! `port`, and `tls`, which v1 has no field for). Objects written by v1 are read as v2, a
//! migration rewrites them in the storage version, a program that knows only v1 gets a clear
//! error, and a rolled-back program keeps what it cannot represent.
//!
//! ```sh
//! cargo run --example versions
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use std::ops::ControlFlow;

use kvstore::{Json, ListOptions, MigrateOptions, Object, ObjectMeta, Scheme, Store};
use serde::{Deserialize, Serialize};

/// Version 1: where a server listens, as `host:port`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Server", api_version = "example.com/v1")]
struct ServerV1 {
    metadata: ObjectMeta,
    address: String,
}

/// Version 2, the hub: host and port apart, and whether the server speaks TLS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Server", api_version = "example.com/v2")]
struct ServerV2 {
    metadata: ObjectMeta,
    host: String,
    port: u16,
    tls: bool,
}

/// Where v1 keeps what only v2 has, so that v2 → v1 → v2 loses nothing.
const TLS: &str = "example.com/tls";

impl TryFrom<ServerV1> for ServerV2 {
    type Error = String;
    fn try_from(mut v1: ServerV1) -> Result<Self, String> {
        let (host, port) = v1
            .address
            .rsplit_once(':')
            .ok_or_else(|| format!("{:?} has no port", v1.address))?;
        let port = port.parse().map_err(|_| format!("{port:?} is no port"))?;
        let tls = v1.metadata.annotations.remove(TLS).is_some();
        Ok(ServerV2 {
            host: host.to_owned(),
            port,
            tls,
            metadata: v1.metadata,
        })
    }
}

impl From<ServerV2> for ServerV1 {
    fn from(mut v2: ServerV2) -> Self {
        if v2.tls {
            v2.metadata
                .annotations
                .insert(TLS.to_owned(), "true".to_owned());
        }
        ServerV1 {
            address: format!("{}:{}", v2.host, v2.port),
            metadata: v2.metadata,
        }
    }
}

/// The store as a program knowing both versions and storing `Storage` sees it.
fn knowing_both<Storage: Object>(store: &Store<Json>) -> Result<Store<Json>, kvstore::Error> {
    let mut scheme = Scheme::new();
    scheme
        .versions::<ServerV2>()
        .version::<ServerV1>()
        .storage::<Storage>()
        .register()?;
    Ok(store.with_scheme(scheme))
}

/// The version the object at `key` is stored in, read through a store knowing both.
async fn stored_version(store: &Store<Json>, key: &str) -> Result<String, kvstore::Error> {
    let object = knowing_both::<ServerV2>(store)?.get_dynamic(key).await?;
    Ok(object.type_meta().api_version.clone())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (store, description) = common::store("versions").await?;
    println!("store: {description}");
    store.delete_prefix("/servers").await?;
    store.delete_prefix("/servers.versions").await?;

    // Release 1 knows only v1.
    let release1 = store.collection::<ServerV1>("/servers")?;
    for (name, address) in [("web", "10.0.0.1:80"), ("db", "10.0.0.2:5432")] {
        let server = ServerV1 {
            metadata: ObjectMeta::named(name),
            address: address.into(),
        };
        release1.create(&server).await?;
    }
    println!(
        "release 1 stored web and db as {}",
        stored_version(&store, "/servers/web").await?
    );

    // Release 2 knows v1 and v2 and stores v2: it reads v1 objects as v2.
    let release2 = knowing_both::<ServerV2>(&store)?;
    let servers = release2.collection::<ServerV2>("/servers")?;
    let cache = ServerV2 {
        metadata: ObjectMeta::named("cache"),
        host: "10.0.0.3".into(),
        port: 6379,
        tls: true,
    };
    servers.create(&cache).await?;
    for server in servers.list(&ListOptions::default()).await? {
        let key = format!("/servers/{}", server.metadata.name);
        println!(
            "  {:<5} host {} port {} tls {:<5} (stored as {})",
            server.metadata.name,
            server.host,
            server.port,
            server.tls,
            stored_version(&store, &key).await?
        );
    }
    println!(
        "versions that may be stored: {:?}",
        servers.stored_versions().await?.map(|r| r.stored_versions)
    );

    // A release-1 program cannot read what it does not know, and says so.
    match release1.get("cache").await {
        Err(err) if err.is_unknown_version() => println!("release 1 reading cache: {err}"),
        other => return Err(format!("release 1 read cache as {other:?}").into()),
    }

    // Migrate: every object stored as v1 is rewritten as v2, compare-and-swap per object.
    let done = servers
        .migrate(
            &MigrateOptions {
                page_size: 2,
                ..MigrateOptions::default()
            },
            |progress| {
                println!(
                    "  migration: {} seen, {} rewritten",
                    progress.seen, progress.migrated
                );
                ControlFlow::Continue(())
            },
        )
        .await?;
    println!(
        "migrated {} of {}; versions that may be stored: {:?}",
        done.migrated,
        done.seen,
        servers.stored_versions().await?.map(|r| r.stored_versions)
    );

    // Rolled back to a release storing v1 (it knows v2): its writes keep tls in an annotation.
    let rolled_back = knowing_both::<ServerV1>(&store)?.collection::<ServerV1>("/servers")?;
    rolled_back
        .guaranteed_update("cache", |s| s.address = "10.0.0.4:6379".into())
        .await?;
    let cache = servers.get("cache").await?;
    println!(
        "after the rolled-back release moved cache (stored as {}): host {} tls {}",
        stored_version(&store, "/servers/cache").await?,
        cache.host,
        cache.tls
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(run()).await
}
