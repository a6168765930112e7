//! State that outlives the process, with no server: the store in a SQLite file. Run it twice —
//! the second run finds what the first stored, and changes it with compare-and-swap.
//!
//! ```sh
//! cargo run --example persistent      # first run: creates the file and a journal
//! cargo run --example persistent      # second run: reads it back, appends an entry
//! # any other store, e.g. a named file or PostgreSQL:
//! cargo run --example persistent -- --store sqlite:///tmp/journal.db
//! cargo run --example persistent --features postgres -- --store postgres://app:secret@127.0.0.1:5432/app
//! ```
//!
//! The default file is `kvstore-persistent-example.db` in the system's temporary directory;
//! delete it to start over.

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use kvstore::{Object, ObjectMeta};
use serde::{Deserialize, Serialize};

/// A journal of the example's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Journal", api_version = "example.com/v1")]
struct Journal {
    metadata: ObjectMeta,
    runs: u64,
    entries: Vec<String>,
}

fn version(journal: &Journal) -> &str {
    journal.metadata.resource_version.as_deref().unwrap_or("?")
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::temp_dir().join("kvstore-persistent-example.db");
    let default = format!("sqlite://{}", file.display());
    let (store, url) = common::store_or("persistent", &default).await?;
    println!("store: {url}");
    let journals = store.collection::<Journal>("/journals")?;

    let found = match journals.get("runs").await {
        Ok(found) => Some(found),
        Err(err) if err.is_not_found() => None,
        Err(err) => return Err(err.into()),
    };
    match found {
        None => {
            let first = Journal {
                metadata: ObjectMeta::named("runs"),
                runs: 1,
                entries: vec!["run 1: created the journal".to_owned()],
            };
            let created = journals.create(&first).await?;
            println!(
                "nothing stored yet: created the journal at resource version {}",
                version(&created)
            );
            println!("run the example again: the next run reads it back from the store");
        }
        Some(found) => {
            println!(
                "found the journal, written {} time(s), at resource version {}:",
                found.runs,
                version(&found)
            );
            for entry in &found.entries {
                println!("  {entry}");
            }
            // Compare-and-swap on the version just read, retried if another run wrote meanwhile.
            let updated = journals
                .guaranteed_update("runs", |journal| {
                    journal.runs += 1;
                    let entry = format!(
                        "run {}: read {} entries",
                        journal.runs,
                        journal.entries.len()
                    );
                    journal.entries.push(entry);
                })
                .await?;
            println!(
                "appended run {}; now at resource version {}",
                updated.runs,
                version(&updated)
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(run()).await
}
