//! A service's own command line (`Kinds`, the `service_cli` example's kinds): postcard values
//! show whole, writes are checked by the kind's type and stored in postcard, and `migrate`
//! rewrites v1 objects in the storage version.

mod common;

#[path = "../examples/service_cli/kinds.rs"]
mod kinds;

use clap::Parser;
use common::SqliteStore;
use kinds::{ServerV1, ServerV2};
use kvstore::{ObjectMeta, Postcard, Scheme};
use kvstore_cli::{run_with, Cli, CliError, Kinds, Terminal};

/// What a run printed, or its error.
async fn run(kinds: Kinds, url: &str, args: &[&str], input: &str) -> Result<String, CliError> {
    let cli = Cli::try_parse_from(["kvstore", "--store", url].iter().chain(args))
        .expect("arguments parse");
    let (mut input, mut output, mut notes) = (input.as_bytes(), Vec::new(), Vec::new());
    let terminal = Terminal {
        input: &mut input,
        output: &mut output,
        notes: &mut notes,
    };
    run_with(cli, terminal, kinds).await?;
    Ok(String::from_utf8(output).expect("UTF-8 output"))
}

/// What the service's command line printed for `args`.
async fn service(url: &str, args: &[&str]) -> String {
    run(kinds::kinds(), url, args, "").await.unwrap()
}

/// The server `name` as the service's command line shows it.
async fn server(url: &str, name: &str) -> serde_json::Value {
    let shown = service(url, &["get", "Server", name, "-o", "json"]).await;
    serde_json::from_str(&shown).unwrap()
}

/// A store holding `web` written by a program that stores v1 (before v2 existed), and `db`
/// written in v2.
async fn servers() -> SqliteStore {
    let store = SqliteStore::new();
    let mut v1_only = Scheme::new();
    v1_only.register::<ServerV1>().unwrap();
    let old = kvstore::connect_with(&store.url, Postcard)
        .await
        .unwrap()
        .with_scheme(v1_only);
    let web = ServerV1 {
        metadata: ObjectMeta::named("web"),
        address: "web.local:80".into(),
    };
    old.create("/server/web", &web).await.unwrap();
    old.close().await;
    let new = kvstore::connect_with(&store.url, Postcard)
        .await
        .unwrap()
        .with_scheme(kinds::scheme());
    let db = ServerV2 {
        metadata: ObjectMeta::named("db"),
        host: "db.local".into(),
        port: 5432,
    };
    new.create("/server/db", &db).await.unwrap();
    new.close().await;
    store
}

#[tokio::test]
async fn postcard_values_show_whole_with_the_kinds_compiled_in() {
    let store = servers().await;
    let shown = server(&store.url, "db").await;
    assert_eq!(shown["apiVersion"], "example.com/v2");
    assert_eq!(shown["host"], "db.local");
    assert_eq!(shown["port"], 5432);
    assert_eq!(shown["metadata"]["name"], "db");

    // Without them: the header only.
    let args = ["get", "Server", "db", "-o", "json"];
    let bare = run(Kinds::new(), &store.url, &args, "").await.unwrap();
    let bare: serde_json::Value = serde_json::from_str(&bare).unwrap();
    assert_eq!(bare["apiVersion"], "example.com/v2");
    assert_eq!(bare.get("host"), None);
}

#[tokio::test]
async fn writes_are_checked_by_the_type_and_stored_with_its_codec() {
    let store = servers().await;
    let edited = service(&store.url, &["get", "Server", "db", "-o", "yaml"])
        .await
        .replace("port: 5432", "port: 6432");
    let applied = run(kinds::kinds(), &store.url, &["apply", "-f", "-"], &edited)
        .await
        .unwrap();
    assert_eq!(applied, "server/db updated\n");
    let typed = kvstore::connect_with(&store.url, Postcard)
        .await
        .unwrap()
        .with_scheme(kinds::scheme());
    let db: ServerV2 = typed.get("/server/db").await.unwrap();
    assert_eq!(db.port, 6432); // read by a postcard store: stored in postcard

    let invalid = edited.replace("port: 6432", "port: not-a-port");
    let err = run(kinds::kinds(), &store.url, &["apply", "-f", "-"], &invalid)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("not a valid example.com/v2/Server"),
        "{message}"
    );
    let db: ServerV2 = typed.get("/server/db").await.unwrap();
    assert_eq!(db.port, 6432);
}

#[tokio::test]
async fn migrate_rewrites_the_old_version_and_needs_the_kinds() {
    let store = servers().await;
    let err = run(Kinds::new(), &store.url, &["migrate", "Server"], "")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("migrate needs the versions of Server"),
        "{message}"
    );

    assert_eq!(
        server(&store.url, "web").await["apiVersion"],
        "example.com/v1"
    );
    let done = service(&store.url, &["migrate", "Server", "--page-size", "1"]).await;
    assert_eq!(
        done,
        "/server: 2 objects seen, 1 rewritten in the storage version\n"
    );
    let web = server(&store.url, "web").await;
    assert_eq!(web["apiVersion"], "example.com/v2");
    assert_eq!(
        (&web["host"], &web["port"]),
        (&"web.local".into(), &80.into())
    );
}
