//! [`PostgresConfig`]: which server, database and schema, and how the store uses them.

use std::time::Duration;

use kvstore_core::config::{Endpoint, Secret, TlsFiles};
use kvstore_core::{Error, Result, StoreConfig};

/// A PostgreSQL store: where the server is, who connects, and the store's settings. Build one
/// with [`PostgresConfig::new`] or from a URL ([`PostgresConfig::from_store_config`]).
/// `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// The server (the first of the URL's hosts is used).
    pub host: String,
    /// Its port (5432).
    pub port: u16,
    /// The user to connect as.
    pub user: String,
    /// The user's password.
    pub password: Option<Secret>,
    /// The database.
    pub database: String,
    /// The schema the store's tables live in (`public`); created when missing. Several stores
    /// can share a database, each in a schema of its own.
    pub schema: String,
    /// TLS, when the server is reached over TLS: its certificate checked against `ca` (else
    /// the system's roots) and the host name; a client certificate when `cert` and `key` are
    /// given.
    pub tls: Option<TlsFiles>,
    /// Connections kept open (8): reads and writes run on them in parallel, one of them
    /// listens for other clients' writes.
    pub pool_size: usize,
    /// How long connecting may take (5 s).
    pub connect_timeout: Duration,
    /// How long one statement may take (30 s); a write that passes it has an ambiguous outcome.
    pub request_timeout: Duration,
    /// Revisions of history kept for watches and paginated lists (10,000); older revisions are
    /// compacted as writes go on. `None` keeps everything until `compact` is called.
    pub retain: Option<u64>,
    /// How often leases are checked for ones whose term is over (1 s): a lease granted by a
    /// client that died is expired by any client of the store.
    pub lease_check_interval: Duration,
    /// How often the head is read even without a notification (1 s): the bound on how late a
    /// watch sees another client's write if a notification is lost.
    pub poll_interval: Duration,
}

impl PostgresConfig {
    /// The store in `database` on `host:port` as `user`, with the default settings.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        database: impl Into<String>,
    ) -> Self {
        PostgresConfig {
            host: host.into(),
            port,
            user: user.into(),
            password: None,
            database: database.into(),
            schema: "public".to_owned(),
            tls: None,
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retain: Some(10_000),
            lease_check_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password));
        self
    }

    /// Sets the schema the tables live in (letters, digits and `_`, not starting with a digit).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Reaches the server over TLS with `files` (each optional).
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// Sets the revisions of history kept (`None`: all, until `compact`).
    pub fn retain(mut self, revisions: Option<u64>) -> Self {
        self.retain = revisions;
        self
    }

    /// Sets how often the head is read without a notification.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how long one statement may take.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The config of a `postgres://USER:PASSWORD@HOST:PORT/DATABASE` URL (`postgresql://` too;
    /// percent-encode special characters of the password), with the query options
    /// `schema=NAME`, `pool_size=8`, `retain=10000` (or `retain=all`),
    /// `lease_check_interval=1s`, `poll_interval=1s`, the common `connect_timeout` and
    /// `request_timeout`, and TLS as etcd URLs take it: `ca=PATH`, `cert=PATH`, `key=PATH`, or
    /// `sslmode=verify-full` for TLS with the system's roots (`sslmode=disable`, the default:
    /// none). Anything else is [`Error::InvalidConfig`].
    ///
    /// ```
    /// use kvstore_core::StoreConfig;
    /// use kvstore_postgres::PostgresConfig;
    /// let url = StoreConfig::from_url("postgres://app:s%40cret@db.internal/apps?schema=orders")?;
    /// let config = PostgresConfig::from_store_config(&url)?;
    /// assert_eq!((config.host.as_str(), config.port, config.database.as_str()), ("db.internal", 5432, "apps"));
    /// assert_eq!(config.schema, "orders");
    /// assert!(!format!("{config:?}").contains("s@cret"));
    /// # Ok::<(), kvstore_core::Error>(())
    /// ```
    pub fn from_store_config(config: &StoreConfig) -> Result<PostgresConfig> {
        let invalid = |message: String| Error::InvalidConfig { message };
        let hosts = config.hosts()?;
        let Endpoint { host, port } = hosts[0].clone();
        let user = config.username.clone().ok_or_else(|| {
            invalid(
                "a postgres:// URL names its user: postgres://USER:PASSWORD@HOST/DATABASE"
                    .to_owned(),
            )
        })?;
        let database =
            match config.path.as_deref().map(|p| p.trim_start_matches('/')) {
                Some(database) if !database.is_empty() && !database.contains('/') => {
                    database.to_owned()
                }
                _ => return Err(invalid(
                    "a postgres:// URL names its database: postgres://USER:PASSWORD@HOST/DATABASE"
                        .to_owned(),
                )),
            };
        let mut postgres = PostgresConfig::new(host, port, user, database);
        postgres.password = config.password.clone();
        postgres.tls = config.tls.clone();
        if let Some(timeout) = config.connect_timeout {
            postgres.connect_timeout = timeout;
        }
        if let Some(timeout) = config.request_timeout {
            postgres.request_timeout = timeout;
        }
        for option in config.backend_options() {
            match option.name {
                "schema" => postgres.schema = option.value.to_owned(),
                "sslmode" => match option.value {
                    "verify-full" => {
                        postgres.tls.get_or_insert_with(TlsFiles::default);
                    }
                    "disable" if postgres.tls.is_none() => {}
                    _ => {
                        return Err(option.invalid(
                            "disable, or verify-full (kvstore never uses TLS without checking the server); ca, cert and key imply verify-full",
                        ))
                    }
                },
                "pool_size" => postgres.pool_size = option.number()?,
                "retain" => postgres.retain = option.retain()?,
                "lease_check_interval" => postgres.lease_check_interval = option.duration()?,
                "poll_interval" => postgres.poll_interval = option.duration()?,
                _ => return Err(option.unknown("postgres")),
            }
        }
        postgres.check()?;
        Ok(postgres)
    }

    /// Refuses a schema name that is not a plain identifier, and a pool of no connection.
    pub(crate) fn check(&self) -> Result<()> {
        let plain = self
            .schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && self
                .schema
                .chars()
                .next()
                .is_some_and(|c| !c.is_ascii_digit())
            && self.schema.len() <= 50;
        if !plain {
            return Err(Error::InvalidConfig {
                message: format!(
                    "schema {:?}: letters, digits and '_' (at most 50), not starting with a digit",
                    self.schema
                ),
            });
        }
        if self.pool_size < 2 {
            return Err(Error::InvalidConfig {
                message: "pool_size: at least 2 (one connection listens for other clients' writes)"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// The driver's configuration: every connection works in the store's schema.
    pub(crate) fn driver(&self) -> tokio_postgres::Config {
        let mut driver = tokio_postgres::Config::new();
        driver
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name("kvstore")
            .connect_timeout(self.connect_timeout)
            // Every statement is an index lookup whose plan does not depend on its arguments:
            // plan once per connection, not on every execution.
            .options(format!(
                "-c search_path={} -c plan_cache_mode=force_generic_plan",
                self.schema
            ));
        if let Some(password) = &self.password {
            driver.password(password.expose());
        }
        if self.tls.is_some() {
            driver.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        driver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<PostgresConfig> {
        PostgresConfig::from_store_config(&StoreConfig::from_url(url)?)
    }

    #[test]
    fn urls_name_server_user_database_and_options() {
        let config =
            parse("postgresql://app:pw@127.0.0.1:6543/db?schema=s1&retain=all&pool_size=3")
                .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 6543));
        assert_eq!(
            (config.user.as_str(), config.database.as_str()),
            ("app", "db")
        );
        assert_eq!(config.password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(
            (config.schema.as_str(), config.retain, config.pool_size),
            ("s1", None, 3)
        );
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for bad in [
            "postgres://app:pw@h/db?schema=a;drop",
            "postgres://app:pw@h/db?sslmode=require",
            "postgres://app:pw@h/db?ca=/ca.pem&sslmode=disable",
            "postgres://app:pw@h",
            "postgres://h/db",
            "postgres://app:pw@h:notaport/db",
            "postgres://app:pw@h/db?pool_size=1",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.is_invalid_config(), "{bad}: {err}");
            assert!(!err.to_string().contains(":pw"), "{err}");
        }
    }
}
