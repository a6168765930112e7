//! Namespaces: one collection, several teams. Objects of the same name live side by side in
//! different namespaces; a handle restricted to a namespace sees and writes only its own, and
//! the whole collection lists and watches them all.
//!
//! ```sh
//! cargo run --example namespaces
//! cargo run --example namespaces --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use kvstore::{ListOptions, Object, ObjectMeta};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Service", api_version = "example.com/v1")]
struct Service {
    metadata: ObjectMeta,
    port: u16,
}

fn service(name: &str, port: u16) -> Service {
    Service {
        metadata: ObjectMeta::named(name),
        port,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(async {
        let (store, url) = common::store("namespaces").await?;
        println!("store: {url}");
        store.delete_prefix("/services").await?;
        let services = store.collection::<Service>("/services")?;
        let team_a = services.namespaced("team-a")?;
        let team_b = services.namespaced("team-b")?;

        // The same name in two namespaces: two objects.
        team_a.create(&service("web", 8080)).await?;
        team_b.create(&service("web", 9090)).await?;
        team_b.create(&service("db", 5432)).await?;
        println!("team-a's web: {}", team_a.get("web").await?.port);
        println!("team-b's web: {}", team_b.get("web").await?.port);
        println!("key of team-b's db: {}", team_b.key_of("db")?);
        assert!(team_a.get("db").await.unwrap_err().is_not_found());

        // An object carries its namespace; a handle refuses one of another namespace.
        let mut stray = service("api", 80);
        stray.metadata.namespace = Some("team-b".to_owned());
        let err = team_a.create(&stray).await.unwrap_err();
        println!("team-a creating an object of team-b: {err}");
        assert!(err.is_invalid_argument());

        for (who, handle) in [("team-a", &team_a), ("team-b", &team_b), ("all", &services)] {
            let listed = handle.list(&ListOptions::default()).await?;
            let names: Vec<String> = listed
                .items
                .iter()
                .map(|s| {
                    let ns = s.metadata.namespace.as_deref().unwrap_or("-");
                    format!("{ns}/{}", s.metadata.name)
                })
                .collect();
            println!("{who}: {names:?}");
        }
        assert_eq!(services.list(&ListOptions::default()).await?.items.len(), 3);
        Ok(())
    })
    .await
}
