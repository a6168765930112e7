//! Encryption at rest on the memory backend: what is stored, what refuses to decrypt and why,
//! key rotation with `reencrypt` while writers go on, and the whole conformance suite through
//! the encrypting codec (with JSON and with postcard).
#![cfg(feature = "encryption")]

use bytes::Bytes;
use kvstore::encryption::{reencrypt, Encrypted, EncryptionKey, KeyRing};
use kvstore::{Backend, Json, ListOptions, MemoryBackend, Object, ObjectMeta, Postcard, Store};
use kvstore_core::backend::{PutLease, RangeRequest, Txn, TxnOp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Account", api_version = "bank.example/v1")]
struct Account {
    metadata: ObjectMeta,
    iban: String,
    balance: u64,
}

fn account(name: &str, balance: u64) -> Account {
    Account {
        metadata: ObjectMeta::named(name),
        iban: format!("DE89-{name}-SECRET"),
        balance,
    }
}

fn key(name: &str, byte: u8) -> EncryptionKey {
    EncryptionKey::new(name, &[byte; 32]).unwrap()
}

fn store_with(backend: &MemoryBackend, ring: KeyRing) -> Store<Encrypted<Json>> {
    Store::new(backend.clone(), Encrypted::new(Json, ring))
}

async fn raw(backend: &MemoryBackend, key: &str) -> Bytes {
    let response = backend.range(RangeRequest::key(key)).await.unwrap();
    response.kvs.into_iter().next().expect("stored").value
}

async fn put_raw(backend: &MemoryBackend, key: &str, value: Bytes) {
    let txn = Txn::when([]).then(TxnOp::put(key, value, PutLease::Detach));
    backend.txn(txn).await.unwrap();
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn values_are_stored_encrypted_and_bound_to_their_key() {
    let backend = MemoryBackend::new();
    let store = store_with(&backend, KeyRing::new(key("k1", 1)));
    let written = store
        .create("/accounts/a", &account("a", 10))
        .await
        .unwrap();
    assert_eq!(store.get::<Account>("/accounts/a").await.unwrap(), written);
    let stored = raw(&backend, "/accounts/a").await;
    assert!(stored.starts_with(b"kvse"));
    assert!(!contains(&stored, "SECRET") && !contains(&stored, "Account"));
    // Two writes of the same object differ: a fresh nonce each time.
    store
        .create("/accounts/b", &account("a", 10))
        .await
        .unwrap();
    assert_ne!(raw(&backend, "/accounts/b").await, stored);

    // Copied to another key: refused, naming why.
    put_raw(&backend, "/accounts/copy", stored.clone()).await;
    let err = store.get::<Account>("/accounts/copy").await.unwrap_err();
    assert!(err.is_codec(), "{err}");
    assert!(err.to_string().contains("copied from another key"), "{err}");
    assert_eq!(err.key(), Some("/accounts/copy"));

    // Any byte changed: refused.
    for at in [4, 8, stored.len() / 2, stored.len() - 1] {
        let mut tampered = stored.to_vec();
        tampered[at] ^= 0x01;
        put_raw(&backend, "/accounts/a", tampered.into()).await;
        let err = store.get::<Account>("/accounts/a").await.unwrap_err();
        assert!(err.is_codec(), "byte {at}: {err}");
    }
    // Truncated: refused, not a panic.
    for len in [0, 3, 5, 7, 20] {
        put_raw(
            &backend,
            "/accounts/a",
            stored.slice(..len.min(stored.len())),
        )
        .await;
        assert!(store
            .get::<Account>("/accounts/a")
            .await
            .unwrap_err()
            .is_codec());
    }
}

#[tokio::test]
async fn unknown_keys_and_plaintext_are_named_errors() {
    let backend = MemoryBackend::new();
    store_with(&backend, KeyRing::new(key("old", 1)))
        .create("/accounts/a", &account("a", 1))
        .await
        .unwrap();
    let other = store_with(&backend, KeyRing::new(key("new", 2)));
    let err = other.get::<Account>("/accounts/a").await.unwrap_err();
    assert!(err.to_string().contains("\"old\""), "names the key: {err}");

    let plain = Store::new(backend.clone(), Json);
    plain.create("/accounts/p", &account("p", 5)).await.unwrap();
    let err = other.get::<Account>("/accounts/p").await.unwrap_err();
    assert!(err.to_string().contains("not encrypted"), "{err}");
    let migrating = store_with(&backend, KeyRing::new(key("new", 2)).accept_plaintext(true));
    assert_eq!(
        migrating
            .get::<Account>("/accounts/p")
            .await
            .unwrap()
            .balance,
        5
    );
    // The key never shows.
    let ring = KeyRing::new(key("shown", 0xAB));
    assert!(!format!("{ring:?}").contains("171"), "{ring:?}");
}

#[tokio::test]
async fn keys_rotate_while_writers_go_on() {
    let backend = MemoryBackend::new();
    let before = store_with(&backend, KeyRing::new(key("k1", 1)).accept_plaintext(true));
    for i in 0..25 {
        before
            .create(&format!("/accounts/a{i:02}"), &account("a", i))
            .await
            .unwrap();
    }
    // Written before encryption was turned on.
    let plain = Store::new(backend.clone(), Json);
    plain
        .create("/accounts/plain", &account("p", 0))
        .await
        .unwrap();

    let ring = KeyRing::new(key("k2", 2))
        .with_key(key("k1", 1))
        .accept_plaintext(true);
    let after = store_with(&backend, ring);
    // A writer keeps updating while the rotation runs: nothing it writes is lost.
    let writer = {
        let after = after.clone();
        tokio::spawn(async move {
            for round in 0..5 {
                for i in (0..25).step_by(3) {
                    after
                        .guaranteed_update(&format!("/accounts/a{i:02}"), |a: &mut Account| {
                            a.balance = 1000 + round
                        })
                        .await
                        .unwrap();
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let (mut next, mut calls, mut total) = (None, 0, 0);
    loop {
        let done = reencrypt(&after, "/accounts", next.as_deref(), 4)
            .await
            .unwrap();
        calls += 1;
        total += done.rewritten + done.current + done.raced;
        next = done.next;
        if next.is_none() {
            break;
        }
    }
    writer.await.unwrap();
    assert!(calls >= 7, "resumed across pages ({calls} calls)");
    assert_eq!(total, 26);
    // Every value is now under k2 (the writer's too: it writes with the primary key).
    let only_k2 = store_with(&backend, KeyRing::new(key("k2", 2)));
    let listed = only_k2
        .list::<Account>("/accounts", &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 26);
    for i in (0..25).step_by(3) {
        let account: Account = only_k2.get(&format!("/accounts/a{i:02}")).await.unwrap();
        assert_eq!(account.balance, 1004, "the writer's last update survived");
    }
    let again = reencrypt(&after, "/accounts", None, 100).await.unwrap();
    assert_eq!((again.rewritten, again.current), (0, 26));
}

kvstore_core::conformance_suite!(
    #[tokio::test(start_paused = true)]
    |_isolation| async {
        let ring = KeyRing::new(key("suite", 9)).with_key(key("older", 8));
        kvstore_core::conformance::Fixture::new(Store::new(
            MemoryBackend::new(),
            Encrypted::new(Json, ring),
        ))
    }
);

mod postcard {
    use super::*;

    kvstore_core::conformance_suite!(
        #[tokio::test(start_paused = true)]
        |_isolation| async {
            let ring = KeyRing::new(key("suite", 9));
            kvstore_core::conformance::Fixture::new(Store::new(
                MemoryBackend::new(),
                Encrypted::new(Postcard, ring),
            ))
        }
    );
}
