//! [`SqliteConfig`]: which file, and how it is written.

use std::path::PathBuf;
use std::time::Duration;

use kvstore_core::{Error, Result, StoreConfig};

/// How much an acknowledged write survives ([`SqliteConfig::synchronous`]); the database is in
/// WAL mode either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `PRAGMA synchronous = NORMAL` (the default): a commit is in the WAL file when it is
    /// acknowledged, fsynced at checkpoints. An acknowledged write survives the process being
    /// killed (`kill -9`, a panic, an OOM kill); a power cut or an operating-system crash may
    /// lose the last commits before the checkpoint, never the database's consistency.
    #[default]
    Normal,
    /// `PRAGMA synchronous = FULL`: the WAL is fsynced at every commit, so an acknowledged write
    /// survives a power cut too; each commit (a group of concurrent writes) waits for the disk.
    Full,
}

/// A SQLite store: the file and its settings. Build one with [`SqliteConfig::new`] or from a
/// URL ([`SqliteConfig::from_store_config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file (created when missing; its directory must exist).
    pub path: PathBuf,
    /// What a commit waits for.
    pub synchronous: Synchronous,
    /// How long a statement waits for another process's write lock before the call fails as
    /// unavailable (5 s).
    pub busy_timeout: Duration,
    /// How often the head is read for writes made by other processes on the same file (100
    /// ms): a watch sees them within this delay. Writes of this process wake watches at once.
    pub poll_interval: Duration,
    /// Revisions of history kept for watches and paginated lists (10,000); older revisions are
    /// compacted as writes go on. `None` keeps everything until `compact` is called.
    pub retain: Option<u64>,
    /// How often the leases are checked for ones whose term is over (1 s): a lease granted by
    /// a process that died is expired by any process using the file.
    pub lease_check_interval: Duration,
    /// Reading connections kept open (4): reads run on them in parallel with the writer.
    pub readers: usize,
}

impl SqliteConfig {
    /// The store in the file at `path`, with the default settings.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(100),
            retain: Some(10_000),
            lease_check_interval: Duration::from_secs(1),
            readers: 4,
        }
    }

    /// Sets what a commit waits for.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Sets how long a statement waits for another process's lock.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets how often other processes' writes are looked for.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the revisions of history kept (`None`: all, until `compact`).
    pub fn retain(mut self, revisions: Option<u64>) -> Self {
        self.retain = revisions;
        self
    }

    /// Sets how often leases are checked for expiry.
    pub fn lease_check_interval(mut self, interval: Duration) -> Self {
        self.lease_check_interval = interval;
        self
    }

    /// The config of a `sqlite://` URL: `sqlite:///abs/path.db` or `sqlite://relative.db`,
    /// with the query options `synchronous=normal|full`, `busy_timeout=5s`,
    /// `poll_interval=100ms`, `retain=10000` (or `retain=all`), `lease_check_interval=1s` and
    /// `readers=4`. Anything else is [`Error::InvalidConfig`].
    ///
    /// ```
    /// use kvstore_core::StoreConfig;
    /// use kvstore_sqlite::{SqliteConfig, Synchronous};
    /// let url = StoreConfig::from_url("sqlite:///var/lib/app/state.db?synchronous=full")?;
    /// let config = SqliteConfig::from_store_config(&url)?;
    /// assert_eq!(config.path.to_str(), Some("/var/lib/app/state.db"));
    /// assert_eq!(config.synchronous, Synchronous::Full);
    /// # Ok::<(), kvstore_core::Error>(())
    /// ```
    pub fn from_store_config(config: &StoreConfig) -> Result<SqliteConfig> {
        let invalid = |message: String| Error::InvalidConfig { message };
        if config.username.is_some() || config.tls.is_some() {
            return Err(invalid(
                "a sqlite:// store takes no user, password or TLS".to_owned(),
            ));
        }
        let path =
            match (config.endpoints.as_slice(), &config.path) {
                ([], Some(path)) => path.clone(),
                _ => return Err(invalid(
                    "a sqlite:// URL names a file: sqlite:///abs/path.db or sqlite://relative.db"
                        .to_owned(),
                )),
            };
        let mut sqlite = SqliteConfig::new(path);
        if let Some(timeout) = config.request_timeout.or(config.connect_timeout) {
            sqlite.busy_timeout = timeout;
        }
        for option in config.backend_options() {
            match option.name {
                "synchronous" => {
                    sqlite.synchronous = match option.value.to_ascii_lowercase().as_str() {
                        "normal" => Synchronous::Normal,
                        "full" => Synchronous::Full,
                        _ => return Err(option.invalid("normal or full")),
                    }
                }
                "busy_timeout" => sqlite.busy_timeout = option.duration()?,
                "poll_interval" => sqlite.poll_interval = option.duration()?,
                "lease_check_interval" => sqlite.lease_check_interval = option.duration()?,
                "retain" => sqlite.retain = option.retain()?,
                "readers" => sqlite.readers = option.number()?,
                _ => return Err(option.unknown("sqlite")),
            }
        }
        Ok(sqlite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SqliteConfig> {
        SqliteConfig::from_store_config(&StoreConfig::from_url(url)?)
    }

    #[test]
    fn urls_name_absolute_and_relative_files() {
        assert_eq!(
            parse("sqlite:///tmp/a.db").unwrap().path,
            PathBuf::from("/tmp/a.db")
        );
        assert_eq!(parse("sqlite://a.db").unwrap().path, PathBuf::from("a.db"));
        assert_eq!(
            parse("sqlite://data/a%20b.db").unwrap().path,
            PathBuf::from("data/a b.db")
        );
    }

    #[test]
    fn options_are_read_and_unknown_ones_refused() {
        let config =
            parse("sqlite://a.db?synchronous=full&busy_timeout=250ms&retain=all&poll_interval=1s")
                .unwrap();
        assert_eq!(config.synchronous, Synchronous::Full);
        assert_eq!(config.busy_timeout, Duration::from_millis(250));
        assert_eq!(config.retain, None);
        assert_eq!(config.poll_interval, Duration::from_secs(1));
        for bad in [
            "sqlite://a.db?journal=off",
            "sqlite://a.db?synchronous=off",
            "sqlite://a.db?retain=many",
            "sqlite://a.db?busy_timeout=soon",
            "sqlite://",
            "sqlite://user:pw@a.db",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.is_invalid_config(), "{bad}: {err}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }
}
