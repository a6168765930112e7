//! The `kvstore` binary run as an operator runs it, on SQLite files: every output format
//! against golden files, apply, edit through a scripted `$EDITOR` (a conflict included),
//! delete, decode and encode, and the exit codes and messages of what goes wrong.

mod common;

use common::{data, get_json, golden, stdout_of, Normalizer, SqliteStore};
use kvstore::backend::{PutLease, Txn, TxnOp};
use kvstore::{Object, ObjectMeta, Postcard};
use predicates::prelude::*;
use serde::{Deserialize, Serialize};

/// A store holding the users of `data/users.yaml`, and what normalizes their outputs.
fn seeded() -> (SqliteStore, Normalizer) {
    let store = SqliteStore::new();
    let applied = stdout_of(
        store
            .kvstore()
            .args(["apply", "-f"])
            .arg(data("users.yaml")),
    );
    assert_eq!(applied, "user/alice created\nuser/bob created\n");
    let alice = get_json(store.kvstore(), "User", "alice", None);
    let bob = get_json(store.kvstore(), "User", "bob", Some("ops"));
    let normalizer = Normalizer::new().object(&alice).object(&bob);
    (store, normalizer)
}

#[test]
fn get_prints_every_output_format() {
    let (store, normalizer) = seeded();
    for (format, file) in [
        ("yaml", "get.yaml"),
        ("json", "get.json"),
        ("wide", "get.wide"),
        ("name", "get.name"),
    ] {
        let printed = stdout_of(store.kvstore().args(["get", "User", "alice", "-o", format]));
        golden(file, &normalizer.apply(&printed));
    }
}

#[test]
fn list_prints_every_output_format_and_selects() {
    let (store, normalizer) = seeded();
    for (format, file) in [
        ("yaml", "list.yaml"),
        ("json", "list.json"),
        ("wide", "list.wide"),
        ("name", "list.name"),
    ] {
        let printed = stdout_of(store.kvstore().args(["list", "User", "-o", format]));
        golden(file, &normalizer.apply(&printed));
    }
    let names = |args: &[&str]| {
        stdout_of(
            store
                .kvstore()
                .args(["list", "User", "-o", "name"])
                .args(args),
        )
    };
    assert_eq!(names(&["-l", "team=blue"]), "user/alice\n");
    assert_eq!(names(&["-l", "team!=blue"]), "user/bob\n");
    assert_eq!(
        names(&["--field-selector", "spec.owner=carol"]),
        "user/bob\n"
    );
    assert_eq!(names(&["-n", "ops"]), "user/bob\n");
    assert_eq!(names(&["-A"]), "user/alice\nuser/bob\n");
    store
        .kvstore()
        .args(["list", "User", "-A", "-n", "ops"])
        .assert()
        .code(2);
}

#[test]
fn list_pages_with_a_continue_token() {
    let (store, _) = seeded();
    let first = store
        .kvstore()
        .args(["list", "User", "-o", "name", "--limit", "1"])
        .output()
        .unwrap();
    assert!(first.status.success());
    assert_eq!(String::from_utf8_lossy(&first.stdout), "user/alice\n"); // in key order
    let notes = String::from_utf8(first.stderr).unwrap();
    let token = notes
        .trim()
        .strip_prefix("more: --continue ")
        .unwrap_or_else(|| panic!("no continue token in {notes:?}"));
    let second =
        stdout_of(
            store
                .kvstore()
                .args(["list", "User", "-o", "name", "--continue", token]),
        );
    assert_eq!(second, "user/bob\n");
}

#[test]
fn a_listed_yaml_applies_back_unchanged_and_an_edited_file_updates() {
    let (store, _) = seeded();
    let listed = stdout_of(store.kvstore().args(["list", "User", "-o", "yaml"]));
    let again = stdout_of(
        store
            .kvstore()
            .args(["apply", "-f", "-"])
            .write_stdin(listed.clone()),
    );
    assert_eq!(again, "user/alice unchanged\nuser/bob unchanged\n");

    // The file holds alice's resource version: an update on it is compare-and-swap.
    let changed = listed.replace("alice@example.com", "alice@example.org");
    let applied = stdout_of(
        store
            .kvstore()
            .args(["apply", "-f", "-"])
            .write_stdin(changed.clone()),
    );
    assert_eq!(applied, "user/alice updated\nuser/bob unchanged\n");
    let alice = get_json(store.kvstore(), "User", "alice", None);
    assert_eq!(alice["email"], "alice@example.org");

    // The same file again: alice moved on since, so it is a conflict, and nothing is written.
    let stale = changed.replace("alice@example.org", "alice@example.net");
    store
        .kvstore()
        .args(["apply", "-f", "-"])
        .write_stdin(stale)
        .assert()
        .code(4)
        .stderr(predicates::str::contains("/user/alice"));
    let alice = get_json(store.kvstore(), "User", "alice", None);
    assert_eq!(alice["email"], "alice@example.org");
}

#[test]
fn edit_writes_back_what_the_editor_saved() {
    let (store, _) = seeded();
    let before = get_json(store.kvstore(), "User", "alice", None);
    stdout_of(
        store
            .kvstore()
            .args(["edit", "User", "alice"])
            .env("EDITOR", "sed -i s/alice@example.com/alice@example.org/"),
    );
    let after = get_json(store.kvstore(), "User", "alice", None);
    assert_eq!(after["email"], "alice@example.org");
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_ne!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );

    let untouched = stdout_of(
        store
            .kvstore()
            .args(["edit", "User", "alice"])
            .env("EDITOR", "true"),
    );
    assert_eq!(untouched, "edit cancelled: nothing changed\n");
    assert_eq!(get_json(store.kvstore(), "User", "alice", None), after);
}

/// An editor script that, on its first run, has another writer change `spec.owner` while the
/// user changes the email; on its second run (the retry), the user carries the other writer's
/// owner over, as the diff shown asks.
fn racing_editor(store: &SqliteStore) -> std::path::PathBuf {
    racing_editor_then(store, "sed -i s/owner:\\ bob/owner:\\ dave/ \"$1\"")
}

/// The editor of [`racing_editor`], whose second run is `retry`.
fn racing_editor_then(store: &SqliteStore, retry: &str) -> std::path::PathBuf {
    let marker = store.dir.path().join("edited-once");
    store.file(
        "editor.sh",
        &format!(
            "#!/bin/sh\nset -e\nif [ ! -e '{marker}' ]; then\n  touch '{marker}'\n  \
             '{bin}' get User alice -o yaml | sed s/owner:\\ bob/owner:\\ dave/ | \
             '{bin}' apply -f - >/dev/null\n  sed -i s/alice@example.com/alice@example.org/ \"$1\"\n\
             else\n  {retry}\nfi\n",
            marker = marker.display(),
            bin = env!("CARGO_BIN_EXE_kvstore"),
        ),
    )
}

#[test]
fn an_edit_that_conflicts_shows_what_changed_and_is_retried_on_yes() {
    let (store, _) = seeded();
    let editor = racing_editor(&store);
    let output = store
        .kvstore()
        .args(["edit", "User", "alice"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .env("KVSTORE_URL", &store.url)
        .write_stdin("y\n")
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{notes}");
    assert!(
        notes.contains("alice changed while you edited it"),
        "{notes}"
    );
    assert!(
        notes.contains("-  owner: bob") && notes.contains("+  owner: dave"),
        "{notes}"
    );
    let alice = get_json(store.kvstore(), "User", "alice", None);
    assert_eq!(alice["email"], "alice@example.org");
    assert_eq!(alice["spec"]["owner"], "dave");
}

#[test]
fn an_edit_saved_unchanged_after_a_conflict_is_written_as_the_user_saw_it() {
    let (store, _) = seeded();
    let editor = racing_editor_then(&store, "true");
    let output = store
        .kvstore()
        .args(["edit", "User", "alice"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .write_stdin("y\n")
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{notes}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "user/alice edited\n"
    );
    let alice = get_json(store.kvstore(), "User", "alice", None);
    assert_eq!(alice["email"], "alice@example.org");
    assert_eq!(alice["spec"]["owner"], "bob"); // the diff was shown; the user kept theirs
}

#[test]
fn an_edit_that_conflicts_keeps_the_edit_in_a_file_on_no() {
    let (store, _) = seeded();
    let editor = racing_editor(&store);
    let output = store
        .kvstore()
        .args(["edit", "User", "alice"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let notes = String::from_utf8_lossy(&output.stderr);
    let saved = notes
        .lines()
        .find_map(|line| line.strip_prefix("your edit is saved in "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no saved edit named in {notes}"));
    let kept = std::fs::read_to_string(saved).unwrap();
    std::fs::remove_file(saved).unwrap();
    assert!(kept.contains("alice@example.org"), "{kept}");
    let alice = get_json(store.kvstore(), "User", "alice", None);
    assert_eq!(alice["email"], "alice@example.com"); // the other writer's version stands
    assert_eq!(alice["spec"]["owner"], "dave");
}

#[test]
fn delete_removes_the_object_and_honours_a_resource_version() {
    let (store, _) = seeded();
    let alice = get_json(store.kvstore(), "User", "alice", None);
    let version: u64 = alice["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    store
        .kvstore()
        .args(["delete", "User", "alice", "--resource-version"])
        .arg((version + 100).to_string())
        .assert()
        .code(4);
    let deleted = stdout_of(
        store
            .kvstore()
            .args(["delete", "User", "alice", "--resource-version"])
            .arg(version.to_string()),
    );
    assert_eq!(deleted, "user/alice deleted\n");
    store
        .kvstore()
        .args(["get", "User", "alice"])
        .assert()
        .code(3)
        .stderr("error: /user/alice: not found\n");
}

#[test]
fn watch_prints_the_changes_from_a_resource_version() {
    let (store, normalizer) = seeded();
    stdout_of(store.kvstore().args(["delete", "User", "bob", "-n", "ops"]));
    let printed = stdout_of(
        store
            .kvstore()
            .args(["watch", "User", "--from", "0", "--count", "1", "-o", "name"]),
    );
    assert_eq!(printed, "ADDED user/alice\n"); // the current objects first: bob is gone
    let printed = stdout_of(
        store
            .kvstore()
            .args(["watch", "User", "--from", "1", "--count", "2", "-o", "wide"]),
    );
    golden("watch.wide", &normalizer.apply(&printed));
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "User", api_version = "example.com/v1")]
struct User {
    metadata: ObjectMeta,
    email: String,
}

#[test]
fn a_binary_value_shows_its_kind_and_a_note_and_a_corrupt_value_is_an_error() {
    let store = SqliteStore::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let typed = kvstore::connect_with(&store.url, Postcard).await.unwrap();
        let carol = User {
            metadata: ObjectMeta::named("carol"),
            email: "carol@example.com".into(),
        };
        typed.create("/user/carol", &carol).await.unwrap();
        let garbage = Txn::when([]).then(TxnOp::put(
            "/user/mallory",
            b"not a kvstore value".to_vec().into(),
            PutLease::Detach,
        ));
        typed.backend().txn(garbage).await.unwrap();
        typed.close().await;
    });
    let output = store
        .kvstore()
        .args(["get", "User", "carol", "-o", "name"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "user/carol\n");
    let notes = String::from_utf8_lossy(&output.stderr);
    assert!(
        notes.contains("example.com/v1/User is stored in postcard"),
        "{notes}"
    );
    store
        .kvstore()
        .args(["edit", "User", "carol"])
        .env("EDITOR", "true")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "only a program with its type can edit it",
        ));
    store
        .kvstore()
        .args(["get", "User", "mallory"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("/user/mallory"))
        .stderr(predicates::str::contains("not a kvstore value"));
}

#[test]
fn a_value_of_another_kind_is_refused() {
    let (store, _) = seeded();
    let group = store.file(
        "group.yaml",
        "apiVersion: v1\nkind: Group\nmetadata: {name: admins}\n",
    );
    stdout_of(
        store
            .kvstore()
            .args(["apply", "--prefix", "/user", "-f"])
            .arg(&group),
    );
    store
        .kvstore()
        .args(["get", "User", "admins"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("v1/Group"));
}

#[test]
fn decode_and_encode_round_trip_and_encrypted_values_name_their_key() {
    let store = SqliteStore::new();
    let key = common::KEY_K1;
    let encoded = store
        .kvstore()
        .args(["encode"])
        .arg(data("users.yaml"))
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&encoded).contains("exactly one object"));

    let alice = store.file(
        "alice.yaml",
        "apiVersion: example.com/v1\nkind: User\nmetadata: {name: alice}\nemail: a@example.com\n",
    );
    let plain = store.kvstore().arg("encode").arg(&alice).output().unwrap();
    assert!(plain.status.success());
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        r#"{"apiVersion":"example.com/v1","kind":"User","metadata":{"name":"alice"},"email":"a@example.com"}"#
    );
    let decoded = stdout_of(
        store
            .kvstore()
            .args(["decode", "-o", "yaml"])
            .write_stdin(plain.stdout),
    );
    assert_eq!(
        decoded,
        "---\napiVersion: example.com/v1\nkind: User\nmetadata:\n  name: alice\nemail: a@example.com\n"
    );

    let sealed = store
        .kvstore()
        .args(["encode", "--key", "/user/alice", "--encryption-key", key])
        .arg(&alice)
        .output()
        .unwrap();
    assert!(sealed.status.success());
    assert!(sealed.stdout.starts_with(b"kvse"));
    store
        .kvstore()
        .arg("decode")
        .write_stdin(sealed.stdout.clone())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("encrypted with key \"k1\""));
    store
        .kvstore()
        .args(["decode", "--key", "/user/bob", "--encryption-key", key])
        .write_stdin(sealed.stdout.clone())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("cannot decrypt"));
    let mut with_newline = sealed.stdout.clone();
    with_newline.push(b'\n'); // as etcdctl prints it
    let decoded = stdout_of(
        store
            .kvstore()
            .args(["decode", "--key", "/user/alice", "-o", "yaml"])
            .env("KVSTORE_ENCRYPTION_KEYS", key)
            .write_stdin(with_newline),
    );
    assert!(decoded.contains("email: a@example.com"), "{decoded}");
}

#[test]
fn encrypted_objects_are_read_and_written_with_the_key() {
    let store = SqliteStore::new();
    let key = common::KEY_K1;
    stdout_of(
        store
            .kvstore()
            .args(["apply", "--encryption-key", key, "-f"])
            .arg(data("users.yaml")),
    );
    store
        .kvstore()
        .args(["get", "User", "alice"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("encrypted with key \"k1\""));
    let alice = get_json(
        {
            let mut command = store.kvstore();
            command.env("KVSTORE_ENCRYPTION_KEYS", key);
            command
        },
        "User",
        "alice",
        None,
    );
    assert_eq!(alice["email"], "alice@example.com");
}

#[test]
fn reencrypt_rewrites_every_value_with_the_new_key() {
    let store = SqliteStore::new();
    let old = "old=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=";
    let new = "new=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    stdout_of(
        store
            .kvstore()
            .args(["apply", "--encryption-key", old, "-f"])
            .arg(data("users.yaml")),
    );
    let done = stdout_of(
        store
            .kvstore()
            .args(["reencrypt", "/user", "--page-size", "1"])
            .env("KVSTORE_ENCRYPTION_KEYS", format!("{new},{old}")),
    );
    assert_eq!(
        done,
        "/user: 2 rewritten with key \"new\", 0 already current, 0 written meanwhile by others\n"
    );
    // The old key alone reads nothing any more; the new one alone reads everything.
    store
        .kvstore()
        .args(["list", "User", "--encryption-key", old])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("\"new\""));
    let names =
        stdout_of(
            store
                .kvstore()
                .args(["list", "User", "-o", "name", "--encryption-key", new]),
        );
    assert_eq!(names, "user/alice\nuser/bob\n");
}

#[test]
fn errors_say_what_went_wrong_with_their_exit_codes() {
    let store = SqliteStore::new();
    let mut no_store = common::kvstore("");
    no_store.env_remove("KVSTORE_URL").arg("health");
    no_store
        .assert()
        .code(1)
        .stderr("error: no store given: pass --store URL or set KVSTORE_URL\n");
    common::kvstore("bogus://x")
        .arg("health")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown store scheme \"bogus\""));
    // A password in a URL is never printed.
    common::kvstore("postgres://app:hunter2@127.0.0.1:1/db")
        .arg("health")
        .assert()
        .failure()
        .stderr(predicates::str::contains("hunter2").not());
    store
        .kvstore()
        .args(["get", "User", "nobody"])
        .assert()
        .code(3)
        .stderr("error: /user/nobody: not found\n");
    store
        .kvstore()
        .args(["get", "User", "a/b"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("must not contain '/'"));
    store
        .kvstore()
        .args(["apply", "-f", "-"])
        .write_stdin("kind: User\nmetadata: {name: x}\n")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("apiVersion"));
    store
        .kvstore()
        .args(["list", "User", "--encryption-key", "k1=c2hvcnQ="])
        .assert()
        .code(1)
        .stderr("error: encryption key \"k1\" must be 32 bytes in base64\n");
    stdout_of(store.kvstore().arg("health"));
    // The codec a service's URL names does not bind the command line, which reads them all.
    let with_codec = format!("{}?codec=postcard", store.url);
    stdout_of(common::kvstore(&with_codec).args(["list", "User"]));
}

#[test]
fn secrets_in_the_environment_are_not_shown_by_help() {
    let output = common::kvstore("postgres://app:hunter2@localhost/db")
        .env("KVSTORE_ENCRYPTION_KEYS", "k1=c2VjcmV0c2VjcmV0")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("KVSTORE_URL"), "{help}");
    assert!(
        !help.contains("hunter2") && !help.contains("c2VjcmV0c2VjcmV0"),
        "{help}"
    );
}

#[test]
fn completions_are_printed_for_a_shell() {
    let script = stdout_of(common::kvstore("").args(["completions", "bash"]));
    assert!(
        script.contains("kvstore") && script.contains("reencrypt"),
        "{script}"
    );
}
