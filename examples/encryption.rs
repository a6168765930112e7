//! Encryption at rest: values sealed with AES-256-GCM under a named key (the store sees only
//! ciphertext), then a key rotation — a new primary key, the old one kept for reading, and a
//! resumable re-encryption of every value under a prefix.
//!
//! ```sh
//! cargo run --example encryption --features encryption
//! cargo run --example encryption --features encryption,etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```
//!
//! Real keys come from a secret store, never from source code.

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use std::sync::Arc;

use kvstore::backend::RangeRequest;
use kvstore::encryption::{reencrypt, Encrypted, EncryptionKey, KeyRing};
use kvstore::{Json, Object, ObjectMeta, Store};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Credential", api_version = "example.com/v1")]
struct Credential {
    metadata: ObjectMeta,
    token: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(async {
        let (plain, url) = common::store("encryption").await?;
        println!("store: {url}");
        let backend = Arc::clone(plain.backend());
        plain.delete_prefix("/credentials").await?;

        let old = EncryptionKey::new("2026-05", &[7; 32])?;
        let store = Store::new_shared(
            Arc::clone(&backend),
            Encrypted::new(Json, KeyRing::new(old)),
        );
        for name in ["ci", "deploy", "backup"] {
            let credential = Credential {
                metadata: ObjectMeta::named(name),
                token: format!("token-of-{name}"),
            };
            store
                .create(&format!("/credentials/{name}"), &credential)
                .await?;
        }
        let raw = backend.range(RangeRequest::key("/credentials/ci")).await?;
        let stored = &raw.kvs[0].value;
        println!(
            "stored bytes start with {:?}…",
            String::from_utf8_lossy(&stored[..12.min(stored.len())])
        );
        assert!(
            !String::from_utf8_lossy(stored).contains("token-of-ci"),
            "no plaintext stored"
        );
        // Without the key, a value is a codec error naming the key, never a panic.
        let err = plain
            .get::<Credential>("/credentials/ci")
            .await
            .unwrap_err();
        println!("read without the key: {err}");

        // Rotation: the new key encrypts, the old one still decrypts, then every value moves.
        let ring = KeyRing::new(EncryptionKey::new("2026-11", &[9; 32])?)
            .with_key(EncryptionKey::new("2026-05", &[7; 32])?);
        let rotated = Store::new_shared(Arc::clone(&backend), Encrypted::new(Json, ring));
        let mut next = None;
        loop {
            let done = reencrypt(&rotated, "/credentials", next.as_deref(), 2).await?;
            println!(
                "re-encrypted {} value(s), {} already current",
                done.rewritten, done.current
            );
            next = done.next;
            if next.is_none() {
                break;
            }
        }
        let only_new = Store::new_shared(
            backend,
            Encrypted::new(Json, KeyRing::new(EncryptionKey::new("2026-11", &[9; 32])?)),
        );
        let ci: Credential = only_new.get("/credentials/ci").await?;
        println!("read with the new key alone: {}", ci.token);
        Ok(())
    })
    .await
}
