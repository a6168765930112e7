//! Choosing the store from an application's configuration file instead of a URL: the same
//! settings (`backend`, `endpoints`, `namespace`, timeouts, credentials, TLS files, codec),
//! deserialized into a `StoreConfig` and connected with `kvstore::connect_config`, which picks
//! the codec the file names.
//!
//! ```sh
//! cargo run --example config_file                       # writes and reads a memory config
//! cargo run --example config_file -- --config my-store.json
//! cargo run --example config_file --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```
//!
//! With `--store URL`, the example writes the file that says the same as the URL, then
//! connects from the file.

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use kvstore::{Object, ObjectMeta, StoreConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Setting", api_version = "example.com/v1")]
struct Setting {
    metadata: ObjectMeta,
    value: String,
}

/// The configuration file to read: `--config PATH`, or one written from `--store URL` (or
/// for a fresh memory store) into a temporary directory.
fn config_file(dir: &std::path::Path) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = match args.as_slice() {
        [flag, path] if flag == "--config" => return Ok(path.into()),
        [flag, url] if flag == "--store" => url.clone(),
        [] => "memory://config-file-example".to_owned(),
        _ => return Err("usage: config_file [--config FILE | --store URL]".into()),
    };
    let from_url = StoreConfig::from_url(&url)?;
    let file = serde_json::json!({
        "backend": from_url.backend,
        "endpoints": from_url.endpoints,
        "namespace": from_url.namespace,
        "path": from_url.path,
        "username": from_url.username,
        "password": from_url.password.as_ref().map(|p| p.expose()),
        "options": from_url.options,
        "request_timeout": "5s",
        "codec": "json",
    });
    let path = dir.join("store.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)?;
    Ok(path)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(async {
        let dir = std::env::temp_dir().join(format!("kvstore-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = config_file(&dir)?;
        let text = std::fs::read_to_string(&path)?;
        let config: StoreConfig = serde_json::from_str(&text)?;
        // The file may hold a password: show what it says as a URL, which never shows one.
        println!("{} says (passwords shown as ***): {config}", path.display());
        let store = kvstore::connect_config(&config).await?;
        store.health().await?;

        let written = store
            .create(
                "/settings/greeting",
                &Setting {
                    metadata: ObjectMeta::named("greeting"),
                    value: "hello".to_owned(),
                },
            )
            .await;
        let setting = match written {
            Err(err) if err.is_already_exists() => {
                store.get::<Setting>("/settings/greeting").await?
            }
            other => other?,
        };
        println!("read back through the configured store: {}", setting.value);
        store
            .delete::<Setting>("/settings/greeting", &Default::default())
            .await?;

        // A file with a mistake is refused, saying what is wrong.
        let err =
            serde_json::from_str::<StoreConfig>(r#"{"backend":"etcd","hosts":["h"]}"#).unwrap_err();
        println!("a misspelled field: {err}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })
    .await
}
