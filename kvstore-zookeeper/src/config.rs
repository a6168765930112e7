//! How to reach ZooKeeper, and where in it the store lives.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kvstore_core::{Error, Result, Secret, StoreConfig, TlsFiles};
use sha1::{Digest, Sha1};
use zookeeper_client as zk;

/// The root znode of a store unless configured otherwise.
pub const DEFAULT_ROOT: &str = "/kvstore";

/// The revisions of history a store keeps unless configured otherwise: older ones are compacted
/// as writes go on (every tenth of it), so the log stays bounded without anyone calling
/// `compact`.
pub const DEFAULT_RETAIN: u64 = 10_000;

/// Configuration of a [`ZooKeeperBackend`](crate::ZooKeeperBackend).
///
/// ```
/// use std::time::Duration;
/// use kvstore_zookeeper::ZooKeeperConfig;
///
/// let config = ZooKeeperConfig::new(["10.0.0.1:2181", "10.0.0.2:2181"])
///     .root("/apps/billing")
///     .request_timeout(Duration::from_secs(3));
/// assert_eq!(config.endpoints().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZooKeeperConfig {
    pub(crate) endpoints: Vec<String>,
    pub(crate) root: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) session_timeout: Duration,
    pub(crate) lease_check_interval: Duration,
    pub(crate) retain: Option<u64>,
    /// Digest authentication: the user and password (never printed).
    pub(crate) user: Option<(String, Secret)>,
    /// Digest ids (`user:base64(sha1(user:password))`) given read access.
    pub(crate) readers: Vec<String>,
    /// TLS to the servers' secure client port.
    pub(crate) tls: Option<TlsFiles>,
}

impl ZooKeeperConfig {
    /// Servers as `host:port`; the store lives under [`DEFAULT_ROOT`].
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ZooKeeperConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            root: DEFAULT_ROOT.to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            session_timeout: Duration::from_secs(10),
            lease_check_interval: Duration::from_millis(500),
            retain: Some(DEFAULT_RETAIN),
            user: None,
            readers: Vec::new(),
            tls: None,
        }
    }

    /// Talks TLS to every server (their secure client port, `secureClientPort`): the server's
    /// certificate must be issued by the CA in `files.ca` (PEM) for the name or address
    /// connected to; `cert` and `key` (PEM) are the client's certificate, for servers that ask
    /// for one (`ssl.clientAuth`).
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// Authenticates with ZooKeeper's `digest` scheme as `name`, and protects the store: every
    /// znode it creates carries an ACL giving this user every permission, the
    /// [readers](ZooKeeperConfig::reader) read access, and nobody else anything. Without a
    /// user the store's znodes are open to every client (`world:anyone`). ZooKeeper's digest
    /// scheme never refuses a password: a wrong one is a user without access, so calls fail
    /// with [`Error::PermissionDenied`]. The password is never printed.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), Secret::new(password)));
        self
    }

    /// Gives `name`, authenticating with `password`, read access to every znode the store
    /// creates (an operator's tool, a backup). Only the digest of the password is kept.
    pub fn reader(mut self, name: &str, password: &str) -> Self {
        self.readers.push(digest_id(name, password));
        self
    }

    /// The ACLs of the znodes the store creates.
    pub(crate) fn acls(&self) -> Vec<zk::Acl> {
        let Some((name, password)) = &self.user else {
            return zk::Acls::anyone_all().to_vec();
        };
        let mut acls = vec![zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("digest", &digest_id(name, password.expose())),
        )];
        acls.extend(
            self.readers
                .iter()
                .map(|id| zk::Acl::new(zk::Permission::READ, zk::AuthId::new("digest", id))),
        );
        acls
    }

    /// The znode every znode of the store lives under (created when missing), e.g.
    /// `/apps/billing`. Stores under different roots share nothing.
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }

    /// How long opening a session may take (5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one ZooKeeper request may take before the call fails with
    /// [`Error::Unavailable`] (5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The ZooKeeper session timeout asked for (10 s; the server bounds it). It only decides
    /// when ZooKeeper gives up on a silent client: leases have their own time to live.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How often this client looks for expired leases (500 ms): a lease's keys are deleted at
    /// most this long after its time to live ran out, by whichever client looks first.
    pub fn lease_check_interval(mut self, interval: Duration) -> Self {
        self.lease_check_interval = interval;
        self
    }

    /// Keeps `revisions` revisions of history, compacting older ones as writes go on
    /// ([`DEFAULT_RETAIN`]); `None` keeps all of it until `Store::compact`. Compaction also
    /// removes the values of writes interrupted between their steps.
    pub fn retain(mut self, revisions: Option<u64>) -> Self {
        self.retain = revisions;
        self
    }

    /// The servers.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The configuration a [`StoreConfig`] describes:
    /// `zk://[USER:PASSWORD@]host:2181,host2:2181/root` (`zks://…?ca=…&cert=…&key=…` for TLS),
    /// with the query options
    /// `session_timeout=10s`, `lease_check_interval=500ms` and `retain=10000` (or `retain=all`).
    pub fn from_store_config(config: &StoreConfig) -> Result<ZooKeeperConfig> {
        let invalid = |message: String| Error::InvalidConfig { message };
        let hosts = config.hosts()?;
        if config.namespace.is_some() {
            return Err(invalid(
                "a namespace is a layer over any backend (kvstore::connect applies it, or kvstore_core::backend::Namespaced); the zookeeper backend's own place is its root, the URL's path (zk://host:2181/root)".to_owned(),
            ));
        }
        let mut zk = ZooKeeperConfig::new(hosts.iter().map(ToString::to_string));
        if let Some(root) = &config.path {
            zk = zk.root(root.clone());
        }
        if let Some(files) = &config.tls {
            zk = zk.tls(files.clone());
        }
        if let Some(timeout) = config.connect_timeout {
            zk = zk.connect_timeout(timeout);
        }
        if let Some(timeout) = config.request_timeout {
            zk = zk.request_timeout(timeout);
        }
        for option in config.backend_options() {
            match option.name {
                "session_timeout" => zk.session_timeout = option.duration()?,
                "lease_check_interval" => zk.lease_check_interval = option.duration()?,
                "retain" => zk.retain = option.retain()?,
                _ => return Err(option.unknown("zookeeper")),
            }
        }
        match (&config.username, &config.password) {
            (Some(user), password) if !user.is_empty() => {
                let password = password.as_ref().map_or("", Secret::expose);
                zk = zk.user(user.clone(), password);
            }
            (_, Some(_)) => return Err(invalid("a password without a user".to_owned())),
            (_, None) => {}
        }
        zk.validate()?;
        Ok(zk)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidConfig { message });
        if self.endpoints.is_empty() {
            return invalid("zookeeper needs at least one endpoint (host:port)".to_owned());
        }
        let root = self.root.trim_end_matches('/');
        if !root.is_empty()
            && (!root.starts_with('/')
                || root[1..]
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == ".."))
        {
            return invalid(format!(
                "zookeeper root {:?} is not an absolute znode path",
                self.root
            ));
        }
        if root == "/zookeeper" || root.starts_with("/zookeeper/") {
            return invalid("zookeeper root /zookeeper is ZooKeeper's own".to_owned());
        }
        Ok(())
    }
}

/// The id ZooKeeper's `digest` scheme gives `name` with `password`:
/// `name:base64(sha1(name:password))`.
fn digest_id(name: &str, password: &str) -> String {
    let digest = Sha1::digest(format!("{name}:{password}").as_bytes());
    format!("{name}:{}", STANDARD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_servers_and_root() {
        let config = StoreConfig::from_url(
            "zk://h1:2181,h2:2181/apps/a?request_timeout=2s&session_timeout=20s&retain=all",
        )
        .unwrap();
        let zk = ZooKeeperConfig::from_store_config(&config).unwrap();
        assert_eq!(zk.endpoints, ["h1:2181", "h2:2181"]);
        assert_eq!(zk.root, "/apps/a");
        assert_eq!(zk.request_timeout, Duration::from_secs(2));
        assert_eq!(zk.session_timeout, Duration::from_secs(20));
        assert_eq!(zk.retain, None);
        let plain = StoreConfig::from_url("zk://h1:2181").unwrap();
        let plain = ZooKeeperConfig::from_store_config(&plain).unwrap();
        assert_eq!(
            (plain.root.as_str(), plain.retain),
            (DEFAULT_ROOT, Some(DEFAULT_RETAIN))
        );
    }

    #[test]
    fn credentials_come_from_the_url_and_are_never_shown() {
        let config = StoreConfig::from_url("zk://app:s3cret@h1:2181/apps/a").unwrap();
        let zk = ZooKeeperConfig::from_store_config(&config).unwrap();
        let (user, password) = zk.user.as_ref().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("app", "s3cret"));
        assert!(!format!("{zk:?}").contains("s3cret"), "{zk:?}");
    }

    #[test]
    fn digest_ids_are_zookeepers() {
        // What ZooKeeper 3.8 prints for it: `java -cp /usr/share/java/zookeeper.jar
        // org.apache.zookeeper.server.auth.DigestAuthenticationProvider super:superpw`.
        assert_eq!(
            digest_id("super", "superpw"),
            "super:g9oN2HttPfn8MMWJZ2r45Np/LIA="
        );
        let acls = ZooKeeperConfig::new(["h:2181"])
            .user("app", "pw")
            .reader("ops", "pw2")
            .acls();
        assert_eq!(acls.len(), 2);
        assert_eq!(acls[0].permission(), zk::Permission::ALL);
        assert_eq!(acls[1].permission(), zk::Permission::READ);
        assert_eq!(
            ZooKeeperConfig::new(["h:2181"]).acls(),
            zk::Acls::anyone_all().to_vec()
        );
    }

    #[test]
    fn unusable_configurations_are_refused() {
        for url in [
            "zk://h:2181/a//b",
            "zk://h:2181/zookeeper",
            "zk://h:2181/a?namespace=/x",
            "zk://:secret@h:2181/a",
            "zk://h:2181/a?batch=1",
            "zk://h:2181/a?retain=many",
            "zk:///a",
        ] {
            // Refused by the URL's own rules (hosts) or by the backend's.
            let err = StoreConfig::from_url(url)
                .and_then(|config| ZooKeeperConfig::from_store_config(&config))
                .unwrap_err();
            assert!(matches!(err, Error::InvalidConfig { .. }), "{url}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }
}
