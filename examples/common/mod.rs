//! What the examples share: choosing the store from the command line, and a time limit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kvstore::backend::Backend;
use kvstore::MemoryBackend;

/// The backend named on the command line: `--etcd-servers URL[,URL]` (keys under
/// `/kvstore-<example>`), or the in-memory store. Returns it with a description.
pub async fn backend(
    example: &str,
) -> Result<(Arc<dyn Backend>, String), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers = match args.as_slice() {
        [] => return Ok((Arc::new(MemoryBackend::new()), "in-memory".to_owned())),
        [flag, servers] if flag == "--etcd-servers" => servers.clone(),
        [flag] if flag.starts_with("--etcd-servers=") => flag["--etcd-servers=".len()..].to_owned(),
        _ => return Err(format!("usage: {example} [--etcd-servers URL[,URL...]]").into()),
    };
    etcd_backend(example, &servers).await
}

#[cfg(feature = "etcd")]
async fn etcd_backend(
    example: &str,
    servers: &str,
) -> Result<(Arc<dyn Backend>, String), Box<dyn std::error::Error>> {
    let namespace = format!("/kvstore-{example}");
    let config = kvstore::EtcdConfig::new(servers.split(',')).namespace(namespace.clone());
    let backend = kvstore::EtcdBackend::connect(config).await?;
    Ok((
        Arc::new(backend),
        format!("etcd at {servers} (keys under {namespace})"),
    ))
}

#[cfg(not(feature = "etcd"))]
async fn etcd_backend(
    _example: &str,
    _servers: &str,
) -> Result<(Arc<dyn Backend>, String), Box<dyn std::error::Error>> {
    Err("this build has no etcd backend: run with `--features etcd`".into())
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
