//! The ZooKeeper session the backend talks through: every request under the request timeout,
//! ZooKeeper's errors as kvstore's, and a new session when the old one expired (the backend
//! keeps nothing in ephemeral znodes, so a new session loses nothing).

use std::future::Future;
use std::sync::RwLock;
use std::time::Duration;

use futures::FutureExt;
use kvstore_core::{Error, Result};
use zookeeper_client as zk;

use crate::config::ZooKeeperConfig;
use crate::error::map_error;

/// The current session, and how to make a new one.
pub(crate) struct Connection {
    client: RwLock<zk::Client>,
    /// One reconnection at a time.
    reconnecting: tokio::sync::Mutex<()>,
    cluster: String,
    config: ZooKeeperConfig,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens a session within the connect timeout.
    pub async fn open(config: &ZooKeeperConfig) -> Result<Connection> {
        let cluster = config.endpoints.join(",");
        let client = connect(&cluster, config).await?;
        Ok(Connection {
            client: RwLock::new(client),
            reconnecting: tokio::sync::Mutex::new(()),
            cluster,
            config: config.clone(),
        })
    }

    /// The current session's client.
    pub fn client(&self) -> zk::Client {
        self.client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn request_timeout(&self) -> Duration {
        self.config.request_timeout
    }

    /// Waits, at most the request timeout, until the session is connected: a write sent while
    /// it is not would wait for the connection, and if none came in time nobody could tell
    /// whether it went out. `Unavailable` when none came: nothing was sent. A session that is
    /// over is not waited for: the request fails at once, and the session is replaced.
    pub async fn connected(&self) -> Result<()> {
        let client = self.client();
        let mut states = client.state_watcher();
        let mut state = states.state();
        let wait = async {
            while state != zk::SessionState::SyncConnected && !state.is_terminated() {
                state = states.changed().await;
            }
        };
        match tokio::time::timeout(self.config.request_timeout, wait).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::Unavailable {
                message: format!(
                    "zookeeper: not connected to {} within {:?} (the session is {state:?}); nothing was sent",
                    self.cluster, self.config.request_timeout
                ),
                source: None,
            }),
        }
    }

    /// Runs one request under the request timeout, mapping its error (`what` names it).
    pub async fn call<T>(
        &self,
        what: &str,
        request: impl Future<Output = std::result::Result<T, zk::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.config.request_timeout, request).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) => {
                self.after_error(&err).await;
                Err(map_error(what, err))
            }
            Err(_) => Err(Error::Unavailable {
                message: format!(
                    "zookeeper: {what}: no answer within {:?} ({})",
                    self.config.request_timeout, self.cluster
                ),
                source: None,
            }),
        }
    }

    /// [`Connection::call`] for a request on a znode that may be missing: `None` then.
    pub async fn call_maybe<T>(
        &self,
        what: &str,
        request: impl Future<Output = std::result::Result<T, zk::Error>>,
    ) -> Result<Option<T>> {
        self.call(what, async {
            match request.await {
                Ok(answer) => Ok(Some(answer)),
                Err(zk::Error::NoNode) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
    }

    /// After an error: a session that expired or was closed is replaced, so that the caller's
    /// retry (the error is `Unavailable`) finds a working one.
    pub async fn after_error(&self, err: &zk::Error) {
        if !matches!(err, zk::Error::SessionExpired | zk::Error::ClientClosed) {
            return;
        }
        let dead = self.client().session_id();
        let _one = self.reconnecting.lock().await;
        if self.client().session_id() != dead {
            return;
        }
        match connect(&self.cluster, &self.config).await {
            Ok(client) => {
                tracing::info!(cluster = %self.cluster, "zookeeper: session expired, opened a new one");
                *self
                    .client
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = client;
            }
            Err(err) => {
                tracing::warn!(cluster = %self.cluster, %err, "zookeeper: reconnecting failed")
            }
        }
    }
}

async fn connect(cluster: &str, config: &ZooKeeperConfig) -> Result<zk::Client> {
    let mut connector = zk::Client::connector()
        .with_session_timeout(config.session_timeout)
        .with_connection_timeout(config.connect_timeout);
    if let Some((name, password)) = &config.user {
        let credentials = format!("{name}:{}", password.expose());
        connector = connector.with_auth("digest", credentials.as_bytes());
    }
    let session = match &config.tls {
        Some(files) => {
            connector = connector.with_tls(crate::tls::options(files)?);
            connector.secure_connect(cluster).boxed()
        }
        None => connector.connect(cluster).boxed(),
    };
    match tokio::time::timeout(config.connect_timeout, session).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(err)) => Err(map_error(&format!("connecting to {cluster}"), err)),
        Err(_) => Err(Error::Unavailable {
            message: format!(
                "zookeeper: connecting to {cluster}: no session within {:?}{}",
                config.connect_timeout,
                match config.tls {
                    // zookeeper-client retries a failed handshake without saying why.
                    Some(_) =>
                        " over TLS (if the servers answer: is each address its secure \
                                client port, with a certificate from the configured CA for \
                                that address?)",
                    None => "",
                }
            ),
            source: None,
        }),
    }
}
