//! [`StoreConfig`]: which store to connect to, as data — parsed from a URL
//! ([`StoreConfig::from_url`]) or deserialized from an application's configuration file. The
//! two forms say the same things; `kvstore::connect` turns either into a store.
//!
//! | URL | store |
//! |---|---|
//! | `memory://` | a fresh in-process store |
//! | `memory://NAME` | the in-process store named `NAME`, shared by every connect in the process |
//! | `etcd://host:2379,host2:2379` | etcd over plain HTTP/2 |
//! | `etcds://host:2379?ca=/etc/ca.pem&cert=/etc/c.pem&key=/etc/c.key` | etcd over TLS (CA, client certificate and key as paths; each optional) |
//! | `zks://host:2281/root?ca=/etc/ca.pem` | ZooKeeper over TLS, to its secure client port (the same options) |
//! | `etcd://user:password@host:2379` | etcd with a user (percent-encode special characters) |
//! | `zk://host:2181,host2:2181/root` | ZooKeeper, the store under the znode `/root` |
//! | `sqlite:///abs/path.db`, `sqlite://relative.db` | a SQLite file (created when missing) |
//! | `postgres://user:password@host:5432/db` | PostgreSQL (`postgresql://` too); over TLS with `?ca=…&cert=…&key=…` (each optional) |
//!
//! Query parameters: `namespace=/app` (every key under it, on every backend:
//! [`Namespaced`](crate::backend::Namespaced)), `connect_timeout=3s`,
//! `request_timeout=500ms`, `codec=json|postcard|bincode`; any other parameter is kept in
//! [`StoreConfig::options`] for the backend, which refuses what it does not know.
//!
//! Hosts are `host:port`, `host` (the backend's default port, see [`BUILT_IN`]) or `[v6]:port`,
//! checked when the URL is parsed ([`Endpoint`]): `etcd://127.0.0.1:notaport` is refused.
//!
//! Passwords are a [`Secret`]: `Debug` and `Display` of a config never show them.

mod built_in;
mod endpoint;
mod option;

pub use built_in::{built_in, BuiltIn, BUILT_IN};
pub use endpoint::Endpoint;
pub use option::BackendOption;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::error::{Error, Result};

/// A password or other credential: usable, never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }
    /// The credential itself, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// TLS files, as paths (each optional: no CA means the system roots; no certificate and key
/// means no client authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The CA certificate(s) to trust, PEM.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The client certificate, PEM.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key, PEM.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// The backend a TLS scheme names (`etcds` is `etcd` over TLS, `zks` is `zk`).
fn secure_scheme(scheme: &str) -> Option<&'static str> {
    match scheme {
        "etcds" => Some("etcd"),
        "zks" => Some("zk"),
        _ => None,
    }
}

/// Which store to connect to (see the [module docs](self) for the URL form).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend's scheme: `memory`, `etcd`, or one registered by a third-party backend.
    pub backend: String,
    /// Where the store is: `host:port` for etcd; the store's name (or nothing) for memory.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Every key of the application lives under this prefix.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The URL's path, percent-decoded: where in the server the store lives, for backends
    /// that have such a place (ZooKeeper: the root znode, `zk://host:2181/apps/a`). Backends
    /// without one refuse it.
    #[serde(default)]
    pub path: Option<String>,
    /// How long connecting may take.
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// How long one request may take.
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    /// The user to authenticate as.
    #[serde(default)]
    pub username: Option<String>,
    /// The user's password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// TLS, when the store is reached over TLS.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// The codec's name: `json` (the default), `postcard` or `bincode`.
    #[serde(default)]
    pub codec: Option<String>,
    /// Backend-specific options; a backend refuses those it does not know.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl StoreConfig {
    /// Parses a store URL (see the [module docs](self)). A malformed URL or option is
    /// [`Error::InvalidConfig`]; the scheme is checked when connecting.
    pub fn from_url(url: &str) -> Result<StoreConfig> {
        let invalid = |why: String| Error::InvalidConfig {
            message: format!("store URL {}: {why}", redact_url(url)),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected scheme://...".to_owned()))?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            // Not echoed: whatever precedes "://" may hold a credential.
            return Err(invalid(
                "the scheme may hold only letters, digits, '+', '-' and '.'".to_owned(),
            ));
        }
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        // Credentials end at the last '@', wherever a '/' may be in the password.
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((credentials, rest)) => (Some(credentials), rest),
            None => (None, rest),
        };
        let (hosts, path) = match rest.find('/') {
            // A file's path, relative (`sqlite://a.db`) or absolute (`sqlite:///a.db`).
            _ if scheme.eq_ignore_ascii_case("sqlite") => ("", rest),
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        let mut config = StoreConfig {
            backend: scheme.to_ascii_lowercase(),
            ..StoreConfig::default()
        };
        if config.backend == "postgresql" {
            config.backend = "postgres".to_owned();
        }
        if let Some(plain) = secure_scheme(&config.backend) {
            config.backend = plain.to_owned();
            config.tls = Some(TlsFiles::default());
        }
        if let Some(credentials) = credentials {
            let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
            config.username = Some(decode(user).map_err(|e| invalid(e.to_owned()))?);
            if !password.is_empty() {
                config.password =
                    Some(Secret(decode(password).map_err(|e| invalid(e.to_owned()))?));
            }
        }
        config.endpoints = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        if !matches!(path, "" | "/") {
            config.path = Some(decode(path).map_err(|e| invalid(e.to_owned()))?);
        }
        if config.takes_hosts() {
            config.hosts().map_err(|e| match e {
                Error::InvalidConfig { message } => invalid(message),
                other => other,
            })?;
        }
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            let duration = |value: &str| {
                humantime::parse_duration(value)
                    .map_err(|e| invalid(format!("{name}={value}: {e}")))
            };
            match &*name {
                "namespace" => config.namespace = Some(value),
                "connect_timeout" => config.connect_timeout = Some(duration(&value)?),
                "request_timeout" => config.request_timeout = Some(duration(&value)?),
                "codec" => config.codec = Some(value),
                "ca" | "cert" | "key" => {
                    if config.backend == "postgres" {
                        config.tls.get_or_insert_with(TlsFiles::default);
                    }
                    let tls = config.tls.as_mut().ok_or_else(|| {
                        invalid(format!(
                            "{name} is a TLS option: use the etcds:// or zks:// scheme"
                        ))
                    })?;
                    let path = Some(PathBuf::from(value));
                    match &*name {
                        "ca" => tls.ca = path,
                        "cert" => tls.cert = path,
                        _ => tls.key = path,
                    }
                }
                _ => {
                    config.options.insert(name.into_owned(), value);
                }
            }
        }
        Ok(config)
    }

    /// Whether the backend is a built-in one whose URL names hosts.
    fn takes_hosts(&self) -> bool {
        built_in(&self.backend).is_some_and(|b| b.default_port.is_some())
    }

    /// The endpoints as hosts and ports (the backend's default port where none is given):
    /// [`Error::InvalidConfig`] naming the first that is not one, or when there is none.
    pub fn hosts(&self) -> Result<Vec<Endpoint>> {
        let default_port = built_in(&self.backend)
            .and_then(|b| b.default_port)
            .unwrap_or(0);
        if self.endpoints.is_empty() {
            return Err(Error::InvalidConfig {
                message: format!("the {} backend needs at least one host", self.backend),
            });
        }
        self.endpoints
            .iter()
            .map(|endpoint| match Endpoint::parse(endpoint, default_port) {
                Ok(e) if e.port == 0 => Err(Error::InvalidConfig {
                    message: format!("endpoint {endpoint:?}: no port"),
                }),
                other => other,
            })
            .collect()
    }

    /// [`Error::InvalidConfig`] unless the URL had no path: for backends that have no place
    /// for one (they take a namespace instead).
    pub fn refuse_path(&self) -> Result<()> {
        match &self.path {
            None => Ok(()),
            Some(path) => Err(Error::InvalidConfig {
                message: format!(
                    "the {} backend takes no path ({path:?}); give a namespace as ?namespace=...",
                    self.backend
                ),
            }),
        }
    }

    /// The backend-specific options, each with readers that name it in their errors.
    pub fn backend_options(&self) -> impl Iterator<Item = BackendOption<'_>> {
        self.options
            .iter()
            .map(|(name, value)| BackendOption { name, value })
    }

    /// [`Error::InvalidConfig`] unless `options` is empty: for backends that take none.
    pub fn refuse_options(&self) -> Result<()> {
        match self.options.keys().next() {
            None => Ok(()),
            Some(name) => Err(Error::InvalidConfig {
                message: format!("the {} backend has no option {name:?}", self.backend),
            }),
        }
    }
}

/// What a path part of a URL keeps encoded: all but letters, digits and `-._~`.
const PATH_PART: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn decode(text: &str) -> std::result::Result<String, &'static str> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "credentials are not UTF-8")
}

/// The URL with any password replaced by `***`, for messages: everything between the user
/// name and the last `@` before the query (or, in text that is not a URL, everything before
/// the last `@`).
fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.find('?') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let Some((credentials, hosts)) = before_query.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once("://") {
        Some((scheme, credentials)) if !scheme.contains(['@', ':', '/']) => {
            let user = credentials.split_once(':').map_or(credentials, |(u, _)| u);
            format!("{scheme}://{user}:***@{hosts}{query}")
        }
        _ => format!("***@{hosts}{query}"),
    }
}

/// The URL form, with the password shown as `***`.
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (&self.tls, self.backend.as_str()) {
            (Some(_), "etcd") => "etcds",
            (Some(_), "zk") => "zks",
            (_, backend) => backend,
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.username {
            write!(f, "{}", utf8_percent_encode(user, NON_ALPHANUMERIC))?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.endpoints.join(","))?;
        if let Some(path) = &self.path {
            for (i, part) in path.split('/').enumerate() {
                if i > 0 {
                    f.write_str("/")?;
                }
                write!(f, "{}", utf8_percent_encode(part, PATH_PART))?;
            }
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(namespace) = &self.namespace {
            query.append_pair("namespace", namespace);
        }
        if let Some(timeout) = self.connect_timeout {
            query.append_pair(
                "connect_timeout",
                &humantime::format_duration(timeout).to_string(),
            );
        }
        if let Some(timeout) = self.request_timeout {
            query.append_pair(
                "request_timeout",
                &humantime::format_duration(timeout).to_string(),
            );
        }
        if let Some(codec) = &self.codec {
            query.append_pair("codec", codec);
        }
        if let Some(files) = &self.tls {
            for (name, path) in [
                ("ca", &files.ca),
                ("cert", &files.cert),
                ("key", &files.key),
            ] {
                if let Some(path) = path {
                    query.append_pair(name, &path.to_string_lossy());
                }
            }
        }
        for (name, value) in &self.options {
            query.append_pair(name, value);
        }
        let query = query.finish();
        if !query.is_empty() {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend)
            .field("endpoints", &self.endpoints)
            .field("namespace", &self.namespace)
            .field("path", &self.path)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("codec", &self.codec)
            .field("options", &self.options)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_kept_for_the_backends_that_take_one() {
        let config = StoreConfig::from_url("zk://h:2181/apps/a%20b?request_timeout=1s").unwrap();
        assert_eq!(config.path.as_deref(), Some("/apps/a b"));
        assert_eq!(
            config.to_string(),
            "zk://h:2181/apps/a%20b?request_timeout=1s"
        );
        assert!(config.refuse_path().is_err());
        let etcd = StoreConfig::from_url("etcd://h:2379").unwrap();
        assert!(etcd.refuse_path().is_ok());
    }

    #[test]
    fn urls_parse_into_configs() {
        let config = StoreConfig::from_url(
            "etcd://app:s%40cret@10.0.0.1:2379,10.0.0.2:2379/?namespace=/app&connect_timeout=3s&request_timeout=500ms&codec=postcard",
        )
        .unwrap();
        assert_eq!(config.backend, "etcd");
        assert_eq!(config.endpoints, ["10.0.0.1:2379", "10.0.0.2:2379"]);
        assert_eq!(config.namespace.as_deref(), Some("/app"));
        assert_eq!(config.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(config.request_timeout, Some(Duration::from_millis(500)));
        assert_eq!(config.username.as_deref(), Some("app"));
        assert_eq!(config.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!(config.codec.as_deref(), Some("postcard"));
        assert!(config.tls.is_none());

        let tls =
            StoreConfig::from_url("etcds://h:2379?ca=/ca.pem&cert=/c.pem&key=/k.pem").unwrap();
        assert_eq!(tls.backend, "etcd");
        let files = tls.tls.unwrap();
        assert_eq!(files.ca, Some(PathBuf::from("/ca.pem")));
        assert_eq!(files.key, Some(PathBuf::from("/k.pem")));
        let zks = StoreConfig::from_url("zks://h:2281/root?ca=/ca.pem").unwrap();
        assert_eq!(
            (zks.backend.as_str(), zks.path.as_deref()),
            ("zk", Some("/root"))
        );
        assert_eq!(
            zks.tls.as_ref().and_then(|t| t.ca.as_deref()),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(zks.to_string(), "zks://h:2281/root?ca=%2Fca.pem");

        let memory = StoreConfig::from_url("memory://shared").unwrap();
        assert_eq!(
            (memory.backend.as_str(), memory.endpoints.as_slice()),
            ("memory", &["shared".to_owned()][..])
        );
        assert!(StoreConfig::from_url("memory://")
            .unwrap()
            .endpoints
            .is_empty());
        let extra = StoreConfig::from_url("zk://h:2181?session=3").unwrap();
        assert_eq!(extra.options.get("session").map(String::as_str), Some("3"));
    }

    #[test]
    fn bad_urls_are_invalid_config_errors() {
        for url in [
            "etcd:/h:2379",
            "://h",
            "etcd://h:2379?connect_timeout=soon",
            "etcd://h:2379?ca=/ca.pem",
            "etcd://u:%FF@h:2379",
            "etcd://127.0.0.1:notaport",
            "etcd://h:2379,h2:99999",
            "etcd://::1:2379",
            "zk://h:0/root",
            "etcd://",
        ] {
            let err = StoreConfig::from_url(url).unwrap_err();
            assert!(matches!(err, Error::InvalidConfig { .. }), "{url}: {err}");
        }
    }

    #[test]
    fn passwords_never_show() {
        let url = "etcd://app:hunter2@h:2379?namespace=/a";
        let config = StoreConfig::from_url(url).unwrap();
        for shown in [
            format!("{config}"),
            format!("{config:?}"),
            format!("{config:#?}"),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(config.to_string(), "etcd://app:***@h:2379?namespace=%2Fa");
        for with_path in [
            "etcd://app:hunter2@h:2379/x",
            "etcd://app:hun/ter2@h:2379/x",
        ] {
            let config = StoreConfig::from_url(with_path).unwrap();
            assert_eq!(config.path.as_deref(), Some("/x"));
            let err = config.refuse_path().unwrap_err();
            for shown in [err.to_string(), format!("{err:?}"), config.to_string()] {
                assert!(
                    !shown.contains("hunter2") && !shown.contains("ter2"),
                    "{shown}"
                );
            }
        }
        for malformed in [
            "etcd://app:hunter2@h:2379?connect_timeout=soon",
            "app:hunter2@h:2379",
            "e tcd://app:hunter2@h:2379",
            "etcd://app:%FFhunter2@h:2379",
        ] {
            let err = StoreConfig::from_url(malformed).unwrap_err();
            assert!(err.is_invalid_config(), "{malformed}: {err}");
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(!shown.contains("ter2"), "{shown}");
            }
        }
        // A '/' in a password does not cut the URL short.
        let slashed = StoreConfig::from_url("etcd://app:hun/ter2@h:2379").unwrap();
        assert_eq!(
            slashed.password.as_ref().map(Secret::expose),
            Some("hun/ter2")
        );
        assert_eq!(slashed.endpoints, ["h:2379"]);
        // The display form parses back to the same config, less the password.
        let back = StoreConfig::from_url(&config.to_string().replace(":***", "")).unwrap();
        assert_eq!(back.namespace, config.namespace);
        assert_eq!(back.endpoints, config.endpoints);
    }

    #[test]
    fn configs_deserialize_with_the_same_fields() {
        let config: StoreConfig = serde_json::from_str(
            r#"{"backend":"etcd","endpoints":["h:2379"],"namespace":"/app",
                "request_timeout":"2s","username":"app","password":"hunter2",
                "tls":{"ca":"/ca.pem"}}"#,
        )
        .unwrap();
        assert_eq!(config.request_timeout, Some(Duration::from_secs(2)));
        assert_eq!(
            config.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        let unknown = serde_json::from_str::<StoreConfig>(r#"{"backend":"etcd","hosts":[]}"#);
        assert!(unknown.is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_urls_never_panic(url in ".{0,96}") {
            if let Ok(config) = StoreConfig::from_url(&url) {
                let _ = (config.to_string(), format!("{config:?}"));
            }
        }

        #[test]
        fn a_password_never_shows(
            user in "[a-z]{1,8}",
            password in "PW[a-zA-Z0-9!$&*/:]{6,12}",
            hosts in "[a-z0-9.:,]{0,24}",
            rest in "[a-z0-9/?=&._]{0,24}",
            scheme in "(etcd|etcds|memory|zk|x y|)",
        ) {
            let url = format!("{scheme}://{user}:{password}@{hosts}{rest}");
            let shown = match StoreConfig::from_url(&url) {
                Ok(config) => format!("{config} {config:?}"),
                Err(err) => format!("{err} {err:?}"),
            };
            proptest::prop_assert!(!shown.contains(&password), "{}", shown);
        }
    }
}
