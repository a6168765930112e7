//! Running the `kvstore` binary against a store of the test's own, and comparing its output
//! with golden files.

#![allow(dead_code)] // each test binary uses its part

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// An encryption key as `--encryption-key` takes it: `k1`, 32 bytes in base64.
pub const KEY_K1: &str = "k1=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=";

/// The `kvstore` binary, with `KVSTORE_URL` set to `url` and nothing else from the environment
/// that changes what it does.
pub fn kvstore(url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kvstore"));
    command
        .env("KVSTORE_URL", url)
        .env_remove("KVSTORE_ENCRYPTION_KEYS")
        .env_remove("VISUAL")
        .env_remove("EDITOR");
    command
}

/// A SQLite store in a directory of the test's own.
pub struct SqliteStore {
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl SqliteStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        SqliteStore { dir, url }
    }

    pub fn kvstore(&self) -> Command {
        kvstore(&self.url)
    }

    /// A file in the store's directory holding `text`.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }
}

/// The test data file `name`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// What a successful run printed on stdout.
pub fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("run kvstore");
    assert!(
        output.status.success(),
        "kvstore failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The object `kind/name` as JSON.
pub fn get_json(command: Command, kind: &str, name: &str, namespace: Option<&str>) -> Value {
    let mut command = command;
    command.args(["get", kind, name, "-o", "json"]);
    if let Some(namespace) = namespace {
        command.args(["-n", namespace]);
    }
    serde_json::from_str(&stdout_of(&mut command)).expect("get -o json prints JSON")
}

/// `text` with what changes from run to run (uids, creation times) replaced by names.
pub struct Normalizer {
    replacements: Vec<(String, String)>,
}

impl Normalizer {
    pub fn new() -> Self {
        Normalizer {
            replacements: Vec::new(),
        }
    }

    /// Replaces the uid and creation time of `object` (as JSON) with `<uid:NAME>` and
    /// `<created:NAME>`, and the table's time (to the second, which objects may share) with
    /// `<second>`.
    pub fn object(mut self, object: &Value) -> Self {
        let name = object["metadata"]["name"].as_str().expect("a name");
        let uid = object["metadata"]["uid"].as_str().expect("a uid");
        let created = object["metadata"]["creationTimestamp"]
            .as_str()
            .expect("a creation time");
        self.replacements
            .push((uid.to_owned(), format!("<uid:{name}>")));
        self.replacements
            .push((created.to_owned(), format!("<created:{name}>")));
        let to_the_second = format!("{}Z", &created[..19]);
        self.replacements
            .push((to_the_second, "<second>".to_owned()));
        self
    }

    pub fn apply(&self, text: &str) -> String {
        self.replacements
            .iter()
            .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
    }
}

/// Compares `actual` with the golden file `name` (`KVSTORE_BLESS=1` writes it instead).
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("KVSTORE_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (KVSTORE_BLESS=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "output differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
