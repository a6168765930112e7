//! A real PostgreSQL for tests: a server from Debian's `postgresql` package (15), started by
//! `initdb` + `postgres` on a free loopback port with its data and socket in a temporary
//! directory — one per test binary, shared by its tests, each in a schema of its own — or the
//! server `KVSTORE_POSTGRES_URL` names. PostgreSQL refuses to run as root: when tests run as
//! root, the server runs as the `postgres` user (`runuser`), its directory owned by that user.
//!
//! A server is started by a small shell that stops it (`SIGINT`, a fast shutdown) when its
//! standard input closes — when the test process ends, whichever way — so no server outlives
//! its tests.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use kvstore_postgres::PostgresConfig;
use tempfile::TempDir;

use crate::{under_ci, Skipped};

/// The superuser the test servers are made with, and its password.
pub const USER: &str = "kvstore";
/// The superuser's password (password authentication over TCP, as in production).
pub const PASSWORD: &str = "kvstore-test-secret";
/// The database the tests use.
pub const DATABASE: &str = "postgres";

const START_TIMEOUT: Duration = Duration::from_secs(60);
const INSTALL_HINT: &str =
    "a PostgreSQL server is needed (scripts/install-deps installs Debian's postgresql)";

/// Runs `postgres` until its standard input closes, then stops it and (if given) removes the
/// directory: `sh -c WRAPPER sh POSTGRES DATA PORT SOCKETS [DIR]`.
const WRAPPER: &str = r#"
"$0" -D "$1" -p "$2" -k "$3" -c listen_addresses=127.0.0.1 -c max_connections=300 \
    -c shared_buffers=64MB -c log_min_messages=warning &
pid=$!
read -r _
kill -INT "$pid" 2>/dev/null
wait "$pid"
[ -n "$4" ] && rm -rf "$4"
exit 0
"#;

/// The directory of PostgreSQL's programs: `KVSTORE_POSTGRES_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout, not on the PATH).
fn bin_dir() -> Result<PathBuf, Skipped> {
    let found = match std::env::var_os("KVSTORE_POSTGRES_BIN") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
            .max_by_key(|bin| {
                let version = bin.parent().and_then(Path::file_name);
                version
                    .and_then(|v| v.to_str()?.parse::<u32>().ok())
                    .unwrap_or(0)
            }),
    };
    match found {
        Some(bin) if bin.join("postgres").is_file() => Ok(bin),
        _ if under_ci() => panic!("CI=true and no PostgreSQL: {INSTALL_HINT}"),
        _ => Err(Skipped(format!(
            "skipping a PostgreSQL test: {INSTALL_HINT}"
        ))),
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` run as the user PostgreSQL accepts: `postgres` when this process is root.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Makes the cluster in `data` serve TLS with `cert` and `key`, and refuse TCP connections
/// without it; with `client_ca`, authenticate them by a client certificate from it.
fn serve_tls_only(data: &Path, cert: &str, key: &str, client_ca: Option<&str>) {
    std::fs::write(data.join("server.crt"), cert).expect("server certificate");
    std::fs::write(data.join("server.key"), key).expect("server key");
    std::fs::write(data.join("client-ca.crt"), client_ca.unwrap_or("")).expect("client CA");
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).expect("postgresql.conf");
    conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    let method = match client_ca {
        Some(_) => {
            conf.push_str("ssl_ca_file = 'client-ca.crt'\n");
            "cert"
        }
        None => "scram-sha-256",
    };
    std::fs::write(data.join("postgresql.conf"), conf).expect("postgresql.conf");
    let hba = format!("local all all trust\nhostssl all all 127.0.0.1/32 {method}\n");
    std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
    let owner = if running_as_root() { "postgres:" } else { "" };
    for file in [
        "server.crt",
        "server.key",
        "client-ca.crt",
        "postgresql.conf",
        "pg_hba.conf",
    ] {
        let path = data.join(file);
        if !owner.is_empty() {
            let status = Command::new("chown").arg(owner).arg(&path).status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown {}",
                path.display()
            );
        }
    }
    let status = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status();
    assert!(status.is_ok_and(|s| s.success()), "chmod the server key");
}

/// A PostgreSQL server of its own; stopped on drop.
pub struct PostgresServer {
    bin: PathBuf,
    dir: Option<TempDir>,
    path: PathBuf,
    port: u16,
    /// Whether the server's shell removes the directory when it stops it.
    remove: bool,
    wrapper: Option<(Child, ChildStdin)>,
}

impl PostgresServer {
    /// Initializes a cluster and starts its server; [`Skipped`] (outside CI) when PostgreSQL is
    /// not installed.
    pub async fn start() -> Result<Self, Skipped> {
        Self::launch(false, None).await
    }

    /// A server that takes only TLS connections over TCP (`hostssl`), with this certificate
    /// and key (PEM); [`Skipped`] (outside CI) when PostgreSQL is not installed.
    pub async fn start_tls(cert: &str, key: &str) -> Result<Self, Skipped> {
        Self::launch(false, Some((cert, key, None))).await
    }

    /// [`PostgresServer::start_tls`], authenticating clients by a certificate from `client_ca`
    /// (PEM) whose common name is the user (`cert` authentication: no password).
    pub async fn start_mutual_tls(cert: &str, key: &str, client_ca: &str) -> Result<Self, Skipped> {
        Self::launch(false, Some((cert, key, Some(client_ca)))).await
    }

    /// [`PostgresServer::start`]; with `remove`, the server's shell removes its directory when
    /// it stops it; with `tls`, the server serves TLS only (with its certificate, key and, for
    /// client certificates, their CA).
    async fn launch(
        remove: bool,
        tls: Option<(&str, &str, Option<&str>)>,
    ) -> Result<Self, Skipped> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("kvstore-pg-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().to_owned();
        std::fs::create_dir(path.join("sockets")).expect("socket directory");
        let password = path.join("password");
        File::create(&password)
            .and_then(|mut f| f.write_all(PASSWORD.as_bytes()))
            .expect("password file");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&path)
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "cannot give {} to postgres",
                path.display()
            );
        }
        let output = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(path.join("data"))
            .args(["-U", USER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", password.display()))
            .output()
            .expect("initdb runs");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some((cert, key, client_ca)) = tls {
            serve_tls_only(&path.join("data"), cert, key, client_ca);
        }
        let port = crate::ports::free_loopback_port();
        let mut server = PostgresServer {
            bin,
            dir: Some(dir),
            path,
            port,
            remove,
            wrapper: None,
        };
        server.spawn();
        server.wait_serving().await;
        Ok(server)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A store's config on this server as the superuser, in `schema`.
    pub fn config(&self, schema: &str) -> PostgresConfig {
        PostgresConfig::new("127.0.0.1", self.port, USER, DATABASE)
            .password(PASSWORD)
            .schema(schema)
    }

    /// The URL of the database as the superuser.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// Starts the server's shell.
    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.path.join("server.log"))
            .expect("server log");
        let data = self.path.join("data");
        let sockets = self.path.join("sockets");
        let mut child = as_server_user(Path::new("sh"))
            .arg("-c")
            .arg(WRAPPER)
            .arg(self.bin.join("postgres"))
            .arg(&data)
            .arg(self.port.to_string())
            .arg(&sockets)
            .arg(if self.remove {
                self.path.as_os_str()
            } else {
                "".as_ref()
            })
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
        let stdin = child.stdin.take().expect("the wrapper's stdin");
        self.wrapper = Some((child, stdin));
    }

    /// The server's Unix socket as the superuser (trusted: whatever TCP requires).
    fn local_url(&self) -> String {
        format!(
            "host={} port={} user={USER} dbname={DATABASE}",
            self.path.join("sockets").display(),
            self.port
        )
    }

    async fn wait_serving(&mut self) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let url = format!("{} connect_timeout=2", self.local_url());
            if let Ok((client, connection)) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await
            {
                let driving = tokio::spawn(connection);
                let answered = client.simple_query("SELECT 1").await.is_ok();
                drop(client);
                let _ = driving.await;
                if answered {
                    return;
                }
            }
            if let Some((child, _)) = self.wrapper.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    // A server killed a moment ago may hold its shared memory still: try again.
                    self.wrapper = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.spawn();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "PostgreSQL did not serve within {START_TIMEOUT:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.path.join("server.log")).unwrap_or_default();
        let lines: Vec<_> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Kills the server with `SIGKILL` (a crash: no shutdown checkpoint).
    pub fn kill(&mut self) {
        let pid_file = self.path.join("data/postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned))
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid])
                .stderr(Stdio::null()) // a server already gone
                .status();
        }
        self.stop_wrapper();
    }

    fn stop_wrapper(&mut self) {
        if let Some((mut child, stdin)) = self.wrapper.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// Restarts the server on its data directory and port, and waits until it serves.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_serving().await;
    }

    /// Runs SQL as the superuser (to make users and grants in a test).
    pub async fn execute(&self, sql: &str) {
        let (client, connection) =
            tokio_postgres::connect(&self.local_url(), tokio_postgres::NoTls)
                .await
                .expect("connect as the superuser");
        let driving = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driving.await;
    }

    /// Keeps a server launched with `remove` for the life of the process: its shell stops it
    /// and removes its directory when the process ends.
    fn leak(mut self) -> u16 {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        let port = self.port;
        std::mem::forget(self);
        port
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop_wrapper();
    }
}

/// The server of this test binary, started by the first test that needs it.
static SHARED: tokio::sync::OnceCell<u16> = tokio::sync::OnceCell::const_new();

/// A PostgreSQL for one test: a schema of its own on the server of the test binary, or on the
/// server `KVSTORE_POSTGRES_URL` names. Stores in different schemas share nothing.
pub struct TestPostgres {
    config: PostgresConfig,
}

impl TestPostgres {
    /// A schema of the test's own; [`Skipped`] (outside CI) when PostgreSQL is not installed.
    pub async fn shared() -> Result<Self, Skipped> {
        let schema = format!("kvstore_test_{:016x}", crate::random_u64());
        if let Ok(url) = std::env::var("KVSTORE_POSTGRES_URL") {
            let parsed = kvstore_core::StoreConfig::from_url(&url)
                .and_then(|c| PostgresConfig::from_store_config(&c))
                .unwrap_or_else(|e| panic!("KVSTORE_POSTGRES_URL: {e}"));
            return Ok(TestPostgres {
                config: parsed.schema(schema),
            });
        }
        let port = match SHARED
            .get_or_try_init(|| async {
                PostgresServer::launch(true, None)
                    .await
                    .map(PostgresServer::leak)
            })
            .await
        {
            Ok(port) => *port,
            Err(skipped) => return Err(skipped),
        };
        let config = PostgresConfig::new("127.0.0.1", port, USER, DATABASE)
            .password(PASSWORD)
            .schema(schema);
        Ok(TestPostgres { config })
    }

    /// The store's config: the test's schema.
    pub fn config(&self) -> PostgresConfig {
        self.config.clone()
    }

    /// The driver's configuration for the store's user, in the test's schema.
    pub fn driver(&self) -> tokio_postgres::Config {
        let config = &self.config;
        let mut driver = tokio_postgres::Config::new();
        driver
            .host(&config.host)
            .port(config.port)
            .user(&config.user)
            .dbname(&config.database)
            .options(format!("-c search_path={}", config.schema));
        if let Some(password) = &config.password {
            driver.password(password.expose());
        }
        driver
    }

    /// A SQL client as the store's user, in the test's schema (to look at or change the tables
    /// as an operator would).
    pub async fn sql(&self) -> tokio_postgres::Client {
        let (client, connection) = self
            .driver()
            .connect(tokio_postgres::NoTls)
            .await
            .expect("a SQL connection to the test's server");
        tokio::spawn(connection);
        client
    }

    /// A backend in the test's schema.
    pub async fn backend(&self) -> kvstore_postgres::PostgresBackend {
        let config = self.config();
        crate::until_answered(|| kvstore_postgres::PostgresBackend::connect(config.clone())).await
    }
}
