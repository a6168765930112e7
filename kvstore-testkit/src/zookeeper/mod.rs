//! A real ZooKeeper for tests: a standalone server from Debian's `zookeeper` package (3.8) on a
//! free loopback port with a temporary data directory, started in about a second and killable
//! (`SIGKILL`) and restartable on its data for fault tests; or an existing ensemble named by
//! `KVSTORE_ZK_ENDPOINTS` (`host:port,host:port`).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::ports::free_loopback_port as free_port;
use crate::{under_ci, Skipped};

mod ensemble;
pub use ensemble::ZooKeeperEnsemble;

/// Where Debian's `zookeeper` package puts the server's classes (their manifest names the
/// other jars).
const SERVER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Jars the server's manifest leaves out: Netty's codecs (the Netty connection factory, which
/// TLS needs, fails without them) and a logger (the server's log says what went wrong).
const EXTRA_JARS: [&str; 2] = [
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/slf4j-simple.jar",
];

/// The server's class path: its jar, and those of [`EXTRA_JARS`] that are installed.
fn class_path() -> String {
    let mut jars = vec![SERVER_JAR];
    jars.extend(
        EXTRA_JARS
            .into_iter()
            .filter(|jar| std::path::Path::new(jar).is_file()),
    );
    jars.join(":")
}

/// The main class of a standalone server.
const STANDALONE: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// The main class of an ensemble member.
const MEMBER: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// How long a started server may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_HINT: &str =
    "a ZooKeeper server is needed (scripts/install-deps installs zookeeper default-jre-headless)";

/// The endpoints of an existing ensemble, from `KVSTORE_ZK_ENDPOINTS`.
pub fn existing_ensemble() -> Option<Vec<String>> {
    let endpoints = std::env::var("KVSTORE_ZK_ENDPOINTS").ok()?;
    Some(endpoints.split(',').map(str::to_owned).collect())
}

/// Whether a local server can be started; panics under CI when it cannot.
fn local_server() -> Result<PathBuf, Skipped> {
    let java = std::env::var_os("JAVA").map_or_else(|| PathBuf::from("java"), PathBuf::from);
    let runs = Command::new(&java)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    match runs && std::path::Path::new(SERVER_JAR).is_file() {
        true => Ok(java),
        false if under_ci() => panic!("CI=true and no ZooKeeper: {INSTALL_HINT}"),
        false => Err(Skipped(format!(
            "skipping a ZooKeeper test: {INSTALL_HINT}"
        ))),
    }
}

/// Asks the server at `endpoint` the four-letter word `ruok`; whether it answers `imok`.
pub fn answers(endpoint: &str) -> bool {
    four_letters(endpoint, "ruok").is_some_and(|answer| answer == "imok")
}

/// The server's answer to the four-letter word `word`, if it answers within half a second.
fn four_letters(endpoint: &str, word: &str) -> Option<String> {
    let addr = endpoint.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = String::new();
    stream.write_all(word.as_bytes()).ok()?;
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The server's role (`leader`, `follower`, `standalone`), from `srvr`; `None` while it
/// serves no requests (an ensemble member without a quorum) or does not answer.
pub fn mode(endpoint: &str) -> Option<String> {
    let answer = four_letters(endpoint, "srvr")?;
    let line = answer
        .lines()
        .find_map(|line| line.strip_prefix("Mode: "))?;
    Some(line.trim().to_owned())
}

/// Whether the server at `endpoint` opens a session within a second.
async fn opens_session(endpoint: &str) -> bool {
    use kvstore_zookeeper::zookeeper_client as zk;
    let connect = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(5))
        .connect(endpoint);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
}

/// A standalone ZooKeeper server of the test's own; killed on drop.
pub struct ZooKeeperServer {
    java: PathBuf,
    /// The server's main class: standalone, or an ensemble member.
    main: &'static str,
    port: u16,
    /// The TLS client port, when the server has one.
    secure_port: Option<u16>,
    dir: TempDir,
    child: Option<Child>,
}

impl ZooKeeperServer {
    /// Starts a server and waits until it serves; [`Skipped`] (outside CI) when ZooKeeper or
    /// Java is not installed.
    pub async fn start() -> Result<Self, Skipped> {
        Self::launch(None).await
    }

    /// [`ZooKeeperServer::start`], also serving TLS on a port of its own
    /// ([`ZooKeeperServer::secure_endpoint`]) with the certificate and key given (PEM), through
    /// ZooKeeper's Netty connection factory.
    pub async fn start_tls(cert: &str, key: &str) -> Result<Self, Skipped> {
        Self::launch(Some((cert, key))).await
    }

    async fn launch(tls: Option<(&str, &str)>) -> Result<Self, Skipped> {
        let java = local_server()?;
        let dir = tempfile::Builder::new()
            .prefix("kvstore-zk-")
            .tempdir()
            .expect("temporary directory");
        let port = free_port();
        // forceSync=no: writes reach the page cache, not the disk, before they are
        // acknowledged; a killed server (SIGKILL) still restarts on them, and a loaded test
        // machine does not stall every write on fsync.
        let mut config = format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\nforceSync=no\n",
            dir.path().join("data").display()
        );
        let secure_port = tls.map(|(cert, key)| {
            // A PEM key store holds the key and the certificate; ZooKeeper reads the `ssl.*`
            // keys of zoo.cfg as its `zookeeper.ssl.*` properties.
            let keystore = dir.path().join("server.pem");
            std::fs::write(&keystore, format!("{key}\n{cert}")).expect("key store");
            let secure_port = free_port();
            config.push_str(&format!(
                "secureClientPort={secure_port}\nsecureClientPortAddress=127.0.0.1\n\
                 serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
                 ssl.keyStore.location={}\nssl.keyStore.type=PEM\nssl.clientAuth=none\n",
                keystore.display()
            ));
            secure_port
        });
        std::fs::write(dir.path().join("zoo.cfg"), config).expect("zoo.cfg");
        let mut server = ZooKeeperServer {
            java,
            main: STANDALONE,
            port,
            secure_port,
            dir,
            child: None,
        };
        server.spawn();
        server.wait_serving().await;
        Ok(server)
    }

    /// `127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:port` of the TLS client port ([`ZooKeeperServer::start_tls`]).
    pub fn secure_endpoint(&self) -> Option<String> {
        self.secure_port.map(|port| format!("127.0.0.1:{port}"))
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let child = Command::new(&self.java)
            .arg("-cp")
            .arg(class_path())
            .arg(self.main)
            .arg(self.dir.path().join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ZooKeeper: {e}"));
        self.child = Some(child);
    }

    async fn wait_serving(&mut self) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let endpoint = self.endpoint();
        loop {
            let probe = endpoint.clone();
            let serving = match self.secure_port {
                // Netty's connection factory does not answer four-letter words on this release:
                // the probe opens a session.
                Some(_) => opens_session(&endpoint).await,
                None => tokio::task::spawn_blocking(move || answers(&probe))
                    .await
                    .unwrap_or(false),
            };
            if serving {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("ZooKeeper exited with {status}:\n{}", self.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ZooKeeper did not serve within {START_TIMEOUT:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<_> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Kills the server with `SIGKILL`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts the server on its data directory and port, and waits until it serves.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_serving().await;
    }
}

impl Drop for ZooKeeperServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server shared by the tests running at the same time (dropped with the last of them).
static SHARED: tokio::sync::Mutex<std::sync::Weak<ZooKeeperServer>> =
    tokio::sync::Mutex::const_new(std::sync::Weak::new());

/// A ZooKeeper for one test: a root znode of its own on a server shared with the tests running
/// at the same time, or on the ensemble `KVSTORE_ZK_ENDPOINTS` names. Stores under different
/// roots share nothing.
pub struct TestZooKeeper {
    endpoints: Vec<String>,
    root: String,
    _held: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

/// The ensemble shared by the tests running at the same time (dropped with the last of them).
static SHARED_ENSEMBLE: tokio::sync::Mutex<std::sync::Weak<ZooKeeperEnsemble>> =
    tokio::sync::Mutex::const_new(std::sync::Weak::new());

impl TestZooKeeper {
    /// A root of the test's own on a shared server; [`Skipped`] (outside CI) when ZooKeeper is
    /// not installed.
    pub async fn shared() -> Result<Self, Skipped> {
        Self::on_shared(&SHARED, ZooKeeperServer::start(), |server| {
            vec![server.endpoint()]
        })
        .await
    }

    /// A root of the test's own on a three-member ensemble shared with the tests running at the
    /// same time (its connect string names all three); [`Skipped`] (outside CI) when ZooKeeper
    /// is not installed. `KVSTORE_ZK_ENDPOINTS`, when set, is used instead.
    pub async fn on_ensemble() -> Result<Self, Skipped> {
        Self::on_shared(
            &SHARED_ENSEMBLE,
            ZooKeeperEnsemble::start(),
            ZooKeeperEnsemble::endpoints,
        )
        .await
    }

    /// A root of the test's own on the servers in `slot` (started by `start` when no test
    /// holds them), or on the ensemble `KVSTORE_ZK_ENDPOINTS` names.
    async fn on_shared<T: Send + Sync + 'static>(
        slot: &tokio::sync::Mutex<std::sync::Weak<T>>,
        start: impl std::future::Future<Output = Result<T, Skipped>>,
        endpoints: impl FnOnce(&T) -> Vec<String>,
    ) -> Result<Self, Skipped> {
        let root = format!("/kvstore-test-{:016x}", crate::random_u64());
        if let Some(endpoints) = existing_ensemble() {
            return Ok(TestZooKeeper {
                endpoints,
                root,
                _held: None,
            });
        }
        let mut shared = slot.lock().await;
        let held = match shared.upgrade() {
            Some(held) => held,
            None => {
                let held = std::sync::Arc::new(start.await?);
                *shared = std::sync::Arc::downgrade(&held);
                held
            }
        };
        Ok(TestZooKeeper {
            endpoints: endpoints(&held),
            root,
            _held: Some(held),
        })
    }

    /// The servers, `host:port`.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.clone()
    }

    /// The test's root znode.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The configuration of a store under the test's root.
    pub fn config(&self) -> kvstore_zookeeper::ZooKeeperConfig {
        kvstore_zookeeper::ZooKeeperConfig::new(self.endpoints()).root(self.root())
    }

    /// A raw `zookeeper-client` session on the servers, to look at the znodes the store wrote
    /// (or write some it did not).
    pub async fn raw_client(&self) -> kvstore_zookeeper::zookeeper_client::Client {
        kvstore_zookeeper::zookeeper_client::Client::connect(&self.endpoints().join(","))
            .await
            .expect("a raw ZooKeeper session")
    }

    /// A backend under the test's root; opening the session is retried while unavailable (a
    /// new session must start within its timeout, which a loaded machine can miss).
    pub async fn backend(&self) -> kvstore_zookeeper::ZooKeeperBackend {
        let config = self.config();
        crate::until_answered(|| kvstore_zookeeper::ZooKeeperBackend::connect(config.clone())).await
    }
}
