//! Connection settings.

use std::time::Duration;

use kvstore_core::{Error, Result, Secret, StoreConfig};

/// Responses a watcher on a shared watch may leave unread, by default.
const DEFAULT_SHARED_WATCH_BUFFER: usize = 1024;
/// Responses a watch of its own buffers for a slow consumer, by default.
const DEFAULT_WATCH_BUFFER: usize = 1024;

/// How to reach an etcd cluster.
///
/// ```
/// use std::time::Duration;
/// use kvstore_etcd::EtcdConfig;
///
/// let config = EtcdConfig::new(["http://127.0.0.1:2379", "http://127.0.0.1:22379"])
///     .request_timeout(Duration::from_secs(3))
///     .namespace("/my-app");
/// assert_eq!(config.endpoints().len(), 2);
/// ```
#[derive(Clone)]
pub struct EtcdConfig {
    pub(crate) endpoints: Vec<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) keep_alive: Option<(Duration, Duration)>,
    pub(crate) user: Option<(String, Secret)>,
    pub(crate) namespace: String,
    pub(crate) watch_reconnect_timeout: Duration,
    pub(crate) shared_watch_buffer: Option<usize>,
    pub(crate) watch_buffer: usize,
    pub(crate) progress_requests: ProgressRequests,
    pub(crate) batch_writes: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<etcd_client::TlsOptions>,
}

/// Whether the backend asks etcd for watch progress on demand
/// ([`Backend::request_progress`](kvstore_core::Backend::request_progress)), which consistent
/// reads from a [`Cache`](kvstore_core::Cache) and bookmarks rely on.
///
/// etcd releases before 3.4.25 and 3.5.8 may answer a progress request before events of the
/// same watch up to the revision they report (etcd issue 15220); a reader trusting such an
/// answer could miss a write. Without progress requests caches read from etcd for consistent
/// reads, and watches rely on etcd's own periodic progress notifications, which are safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProgressRequests {
    /// Asks the server its release once, and uses progress requests on fixed releases only.
    #[default]
    Auto,
    /// Always: for servers known to be fixed whose release cannot be read (a user without the
    /// right to ask the member's status).
    Enabled,
    /// Never.
    Disabled,
}

impl EtcdConfig {
    /// Endpoints such as `http://127.0.0.1:2379`; requests go to any of them.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            keep_alive: Some((Duration::from_secs(5), Duration::from_secs(5))),
            user: None,
            namespace: String::new(),
            watch_reconnect_timeout: Duration::from_secs(30),
            shared_watch_buffer: Some(DEFAULT_SHARED_WATCH_BUFFER),
            watch_buffer: DEFAULT_WATCH_BUFFER,
            progress_requests: ProgressRequests::Auto,
            batch_writes: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// How long connecting may take before [`Error::Unavailable`](kvstore_core::Error) (5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may take before [`Error::Unavailable`](kvstore_core::Error) (5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// HTTP/2 keep-alive pings: interval and timeout (5 s, 5 s); `None` disables them. They are
    /// what detects a dead server under an idle watch.
    pub fn keep_alive(mut self, ping: Option<(Duration, Duration)>) -> Self {
        self.keep_alive = ping;
        self
    }

    /// User and password authentication.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), Secret::new(password)));
        self
    }

    /// A key prefix (e.g. `/my-app`) prepended to every key, so several applications can share
    /// one cluster. Keys seen through the backend never show it.
    pub fn namespace(mut self, prefix: impl Into<String>) -> Self {
        self.namespace = prefix.into();
        self
    }

    /// How long a broken watch keeps trying to reconnect before it reports
    /// [`Error::Unavailable`](kvstore_core::Error) (30 s).
    pub fn watch_reconnect_timeout(mut self, timeout: Duration) -> Self {
        self.watch_reconnect_timeout = timeout;
        self
    }

    /// Whether watches of the same range share one etcd watch (on by default).
    ///
    /// Shared, etcd sends each change once to this client however many watchers of the range
    /// it has, instead of once per watcher; a watcher joins a shared watch when that watch has
    /// not yet passed the watcher's start revision, and opens a new one otherwise. Each
    /// watcher still gets exactly the events from its start revision, in order (even when that
    /// revision was compacted since: the shared watch has every change after it). Off, every
    /// watch has an etcd watch of its own.
    pub fn share_watches(mut self, share: bool) -> Self {
        self.shared_watch_buffer = share.then_some(
            self.shared_watch_buffer
                .unwrap_or(DEFAULT_SHARED_WATCH_BUFFER),
        );
        self
    }

    /// How many etcd watch responses (each holding the changes of one or more revisions) a
    /// watcher on a shared watch may leave unread (1024). A watcher further behind continues
    /// on an etcd watch of its own from where it is, so it never holds back the others and
    /// loses nothing. Turns sharing on.
    pub fn shared_watch_buffer(mut self, responses: usize) -> Self {
        self.shared_watch_buffer = Some(responses.max(1));
        self
    }

    /// How many etcd watch responses a watch of its own (and a watcher that left a shared
    /// watch) buffers for a consumer that does not read (1024). etcd streams are always read,
    /// so a consumer that never polls cannot stall the client's connection; past the buffer
    /// the watch closes its etcd stream and reopens it from where it stopped once the consumer
    /// reads again, losing nothing (`Gone` if that history was compacted meanwhile).
    pub fn watch_buffer(mut self, responses: usize) -> Self {
        self.watch_buffer = responses.max(1);
        self
    }

    /// Whether watch progress is asked for on demand ([`ProgressRequests::Auto`]).
    pub fn progress_requests(mut self, progress: ProgressRequests) -> Self {
        self.progress_requests = progress;
        self
    }

    /// Whether concurrent writes share requests (off by default): a transaction that
    /// arrives while another write request is in flight waits for it and goes with the others
    /// that arrived meanwhile, as nested transactions of one etcd transaction, each with its own
    /// compares and answer. A write never waits when no other is in flight. The writes of one
    /// request share its revision, as the writes of one transaction do.
    pub fn batch_writes(mut self, batch: bool) -> Self {
        self.batch_writes = batch;
        self
    }

    /// TLS settings (feature `tls`): CA certificate, client identity.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: etcd_client::TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    pub(crate) fn connect_options(&self) -> etcd_client::ConnectOptions {
        // No per-request timeout here: every request is already bounded by the backend's own
        // deadline (which also resends requests that never reached a server), and a second
        // timer plus a `grpc-timeout` header per request would cost every call.
        let mut options =
            etcd_client::ConnectOptions::new().with_connect_timeout(self.connect_timeout);
        if let Some((interval, timeout)) = self.keep_alive {
            options = options
                .with_keep_alive(interval, timeout)
                .with_keep_alive_while_idle(true);
        }
        if let Some((name, password)) = &self.user {
            // etcd's tokens expire (`--auth-token-ttl`, 5 minutes by default): a long-running
            // client authenticates again when its token is refused.
            options = options
                .with_user(name.clone(), password.expose())
                .with_auto_token_refresh(true);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            options = options.with_tls(tls.clone());
        }
        options
    }
}

/// Shows everything but the password.
impl std::fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("EtcdConfig");
        debug
            .field("endpoints", &self.endpoints)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("user", &self.user)
            .field("namespace", &self.namespace)
            .field("watch_reconnect_timeout", &self.watch_reconnect_timeout)
            .field("shared_watch_buffer", &self.shared_watch_buffer)
            .field("watch_buffer", &self.watch_buffer)
            .field("progress_requests", &self.progress_requests)
            .field("batch_writes", &self.batch_writes);
        #[cfg(feature = "tls")]
        debug.field("tls", &self.tls.is_some());
        debug.finish()
    }
}

impl EtcdConfig {
    /// The etcd configuration a [`StoreConfig`] describes (`etcd://` URLs): endpoints as
    /// `host:port` (checked: [`StoreConfig::hosts`]), namespace, timeouts, user, and TLS files (feature `tls`).
    /// [`Error::InvalidConfig`] for what etcd cannot use.
    pub fn from_store_config(config: &StoreConfig) -> Result<EtcdConfig> {
        let invalid = |message: String| Error::InvalidConfig { message };
        config.refuse_options()?;
        config.refuse_path()?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let endpoints = config
            .hosts()?
            .into_iter()
            .map(|endpoint| format!("{scheme}://{endpoint}"));
        let mut etcd = EtcdConfig::new(endpoints);
        if let Some(namespace) = &config.namespace {
            kvstore_core::key::validate_key(namespace)
                .map_err(|e| invalid(format!("namespace: {e}")))?;
            etcd = etcd.namespace(namespace.clone());
        }
        if let Some(timeout) = config.connect_timeout {
            etcd = etcd.connect_timeout(timeout);
        }
        if let Some(timeout) = config.request_timeout {
            etcd = etcd.request_timeout(timeout);
        }
        match (&config.username, &config.password) {
            (Some(user), password) => {
                etcd.user = Some((user.clone(), password.clone().unwrap_or(Secret::new(""))));
            }
            (None, Some(_)) => return Err(invalid("a password without a user".to_owned())),
            (None, None) => {}
        }
        if let Some(files) = &config.tls {
            etcd = etcd.tls_files(files)?;
        }
        Ok(etcd)
    }

    #[cfg(feature = "tls")]
    fn tls_files(self, files: &kvstore_core::TlsFiles) -> Result<EtcdConfig> {
        let read = |what: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| Error::InvalidConfig {
                message: format!("cannot read the TLS {what} {}: {e}", path.display()),
            })
        };
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &files.ca {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read("CA", ca)?));
        }
        match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(etcd_client::Identity::from_pem(
                    read("certificate", cert)?,
                    read("key", key)?,
                ));
            }
            (None, None) => {}
            _ => {
                return Err(Error::InvalidConfig {
                    message: "a TLS client certificate needs both cert and key".to_owned(),
                })
            }
        }
        Ok(self.tls(tls))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_files(self, _files: &kvstore_core::TlsFiles) -> Result<EtcdConfig> {
        Err(Error::InvalidConfig {
            message: "TLS to etcd needs the `tls` feature of kvstore-etcd (`etcd-tls` of kvstore)"
                .to_owned(),
        })
    }
}
