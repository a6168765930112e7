//! What the examples share: choosing the store from the command line, and a time limit.

use std::future::Future;
use std::time::Duration;

use kvstore::{Json, Store, StoreConfig};

/// The store named by `--store URL`, else the `KVSTORE_URL` environment variable, else a fresh
/// in-memory store (`memory://`); see `kvstore::StoreConfig` for the URL forms, e.g.
/// `etcd://127.0.0.1:2379?namespace=/kvstore-example`. Returns it with its URL (any password
/// shown as `***`).
#[allow(dead_code)] // config_file reads its store from a configuration file instead
pub async fn store(example: &str) -> Result<(Store<Json>, String), Box<dyn std::error::Error>> {
    store_or(example, "memory://").await
}

/// [`store`], with `default` when neither the command line nor the environment names one.
#[allow(dead_code)] // only some examples choose another default
pub async fn store_or(
    example: &str,
    default: &str,
) -> Result<(Store<Json>, String), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = match args.as_slice() {
        [] => std::env::var("KVSTORE_URL").unwrap_or_else(|_| default.to_owned()),
        [flag, url] if flag == "--store" => url.clone(),
        [flag] if flag.starts_with("--store=") => flag["--store=".len()..].to_owned(),
        _ => return Err(format!("usage: {example} [--store URL]   (default: {default})").into()),
    };
    let config = StoreConfig::from_url(&url)?;
    let store = kvstore::connect_config_with(&config, Json).await?;
    Ok((store, config.to_string()))
}

/// How long an example may run before it counts as hung.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Runs an example's body, turning a hang into a clear failure after [`TIME_LIMIT`].
pub async fn within_time_limit<T>(
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    tokio::time::timeout(TIME_LIMIT, body)
        .await
        .map_err(|_| format!("the example did not finish within {TIME_LIMIT:?}"))?
}
