//! A backend of your own on the log engine: `storage.rs` keeps a whole store in one JSON file
//! (keys, a log of commits, leases) and implements `kvstore::engine::Storage`; the engine
//! gives it etcd's semantics — revisions, compare-and-swap transactions, watches from a
//! revision, leases. The same storage passes the whole conformance suite
//! (`tests/file_backend.rs`); copy both files to start a backend of your own.
//!
//! This example registers the storage under the `file` URL scheme, writes objects, closes the
//! store, opens the directory again and finds them, and the next revision after them.
//!
//! ```sh
//! cargo run --example file_backend                       # a store in a temporary directory
//! cargo run --example file_backend -- --store file:///tmp/my-store
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

#[path = "../common/mod.rs"]
mod common;
mod storage;

use std::sync::Arc;

use kvstore::engine::LogBackend;
use kvstore::{ListOptions, Object, ObjectMeta, StoreConfig};
use serde::{Deserialize, Serialize};

use crate::storage::FileStorage;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Note", api_version = "example.com/v1")]
struct Note {
    metadata: ObjectMeta,
    text: String,
}

/// Opens the store a `file://` URL names: its path is the directory.
fn register_file_scheme() {
    kvstore::register("file", |config: StoreConfig| {
        let dir = config.path.clone().unwrap_or_else(|| "/".to_owned());
        Box::pin(async move {
            std::fs::create_dir_all(&dir).map_err(|e| kvstore::Error::Unavailable {
                message: format!("{dir}: {e}"),
                source: Some(Box::new(e)),
            })?;
            let storage = FileStorage::open(std::path::Path::new(&dir))?;
            Ok(Arc::new(LogBackend::new(storage)) as Arc<dyn kvstore::Backend>)
        })
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(async {
        register_file_scheme();
        let temporary = tempfile::tempdir()?;
        if std::env::args().len() == 1 {
            std::env::set_var(
                "KVSTORE_URL",
                format!("file://{}", temporary.path().display()),
            );
        }
        let (store, url) = common::store("file_backend").await?;
        println!("store: {url}");
        store.delete_prefix("/notes").await?;
        let texts = [("first", "kept in a file"), ("second", "and found again")];
        for (name, text) in texts {
            let note = Note {
                metadata: ObjectMeta::named(name),
                text: text.to_owned(),
            };
            let created = store.create(&format!("/notes/{name}"), &note).await?;
            let version = created.metadata.resource_version.unwrap_or_default();
            println!("created {name} at resource version {version}");
        }
        let last = store.current_resource_version().await?;
        drop(store);

        let (store, _) = common::store("file_backend").await?;
        let found = store
            .list::<Note>("/notes", &ListOptions::default())
            .await?;
        println!("after opening it again: {} notes", found.items.len());
        for note in &found.items {
            println!("  {}: {}", note.metadata.name, note.text);
        }
        if url.starts_with("file:") {
            assert_eq!(
                found.items.len(),
                texts.len(),
                "the notes survive closing the store"
            );
            assert_eq!(store.current_resource_version().await?, last);
        }
        Ok(())
    })
    .await
}
