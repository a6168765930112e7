//! A real etcd for a test.
//!
//! [`TestEtcd`] finds one, in this order:
//! 1. `KVSTORE_ETCD_ENDPOINTS=http://host:2379,...`: an existing cluster;
//! 2. `KVSTORE_ETCD=docker`: etcd in a container started through `testcontainers`, from the
//!    image `KVSTORE_ETCD_IMAGE` (default [`container::DEFAULT_IMAGE`]; `scripts/etcd-image`
//!    builds one from the local etcd binary for machines that reach no registry);
//! 3. `KVSTORE_ETCD=process`, or nothing set: a local `etcd` process (binary from
//!    `KVSTORE_ETCD_BIN` or `PATH`) on free loopback ports in a temporary directory; with
//!    nothing set and no binary, a container when a Docker engine answers;
//! 4. otherwise the test panics under `CI=true` and is [`Skipped`] elsewhere.
//!
//! A test that only touches keys under its own prefix asks for [`TestEtcd::shared`]: it gets a
//! namespace of its own on a server that the tests running at the same time share, started by
//! the first of them and stopped when the last one ends. [`TestEtcd::start`] gives a test a
//! server of its own (an existing cluster is always shared, under a namespace).

pub mod auth;
mod container;
mod process;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use kvstore_etcd::{EtcdBackend, EtcdConfig};
use tokio::sync::Mutex;

use crate::{random_u64, under_ci, Skipped};
pub use container::{docker_answers, EtcdContainer, DEFAULT_IMAGE};
pub use process::EtcdCluster;

const INSTALL_HINT: &str = "etcd is needed for these tests: install it (Debian/Ubuntu: \
    `apt-get install etcd-server`, or scripts/install-deps), point KVSTORE_ETCD_BIN at the \
    binary, set KVSTORE_ETCD_ENDPOINTS to an existing cluster, or run a Docker engine \
    (KVSTORE_ETCD=docker)";

/// The etcd binary to run: `KVSTORE_ETCD_BIN`, or `etcd` on `PATH`.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("KVSTORE_ETCD_BIN") {
        return Some(PathBuf::from(bin));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    })
}

/// Whether a local etcd process can be started; panics under CI when it cannot, and says why
/// the test is skipped otherwise.
pub fn local_etcd() -> Result<PathBuf, Skipped> {
    match etcd_binary() {
        Some(binary) => Ok(binary),
        None if under_ci() => panic!("CI=true and no etcd binary: {INSTALL_HINT}"),
        None => Err(Skipped(format!("skipping an etcd test: {INSTALL_HINT}"))),
    }
}

/// Whether `endpoint` answers a request.
async fn serves(endpoint: &str) -> bool {
    let config = EtcdConfig::new([endpoint])
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_millis(1000));
    match EtcdBackend::connect(config).await {
        Ok(backend) => kvstore_core::Backend::current_revision(&backend)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

/// Where the etcd of the tests comes from.
enum Source {
    Endpoints(Vec<String>),
    Process,
    Container,
}

fn source() -> Result<Source, Skipped> {
    if let Ok(endpoints) = std::env::var("KVSTORE_ETCD_ENDPOINTS") {
        let endpoints = endpoints
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        return Ok(Source::Endpoints(endpoints));
    }
    match std::env::var("KVSTORE_ETCD").as_deref() {
        Ok("docker") => Ok(Source::Container),
        Ok("process") => local_etcd().map(|_| Source::Process),
        Ok(other) if !other.is_empty() => {
            panic!("KVSTORE_ETCD={other:?}: expected `docker` or `process`")
        }
        _ if etcd_binary().is_some() => Ok(Source::Process),
        _ if docker_answers() => Ok(Source::Container),
        _ => local_etcd().map(|_| Source::Process),
    }
}

/// A server started for tests: a local process or a container; stopped on drop.
enum Server {
    Process(EtcdCluster),
    Container(Box<EtcdContainer>),
}

impl Server {
    async fn start(source: &Source) -> Self {
        match source {
            Source::Container => Server::Container(Box::new(EtcdContainer::start().await)),
            _ => Server::Process(EtcdCluster::start(1).await),
        }
    }

    fn endpoints(&self) -> Vec<String> {
        match self {
            Server::Process(cluster) => cluster.endpoints(),
            Server::Container(container) => vec![container.endpoint().to_owned()],
        }
    }
}

/// The server the running [`TestEtcd::shared`] tests share; it stops with the last of them.
static SHARED: Mutex<Weak<Server>> = Mutex::const_new(Weak::new());

async fn shared_server(source: &Source) -> Arc<Server> {
    let mut shared = SHARED.lock().await;
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(Server::start(source).await);
    *shared = Arc::downgrade(&server);
    server
}

/// What keeps a test's server alive (a shared one: until the last test holding it ends).
#[allow(dead_code)] // held only to be dropped
enum Held {
    Nothing,
    Own(Server),
    Shared(Arc<Server>),
}

/// An etcd for one test (see the [module docs](self) for where it comes from).
pub struct TestEtcd {
    config: EtcdConfig,
    _held: Held,
}

impl TestEtcd {
    /// A server of the test's own (an existing cluster is shared, under a namespace).
    pub async fn start() -> Result<Self, Skipped> {
        Self::find(false).await
    }

    /// A namespace of the test's own on a server shared with the tests running at the same
    /// time.
    pub async fn shared() -> Result<Self, Skipped> {
        Self::find(true).await
    }

    async fn find(share: bool) -> Result<Self, Skipped> {
        let namespace = || format!("/kvstore-test-{:016x}", random_u64());
        Ok(match source()? {
            Source::Endpoints(endpoints) => TestEtcd {
                config: EtcdConfig::new(endpoints).namespace(namespace()),
                _held: Held::Nothing,
            },
            source if share => {
                let server = shared_server(&source).await;
                TestEtcd {
                    config: EtcdConfig::new(server.endpoints()).namespace(namespace()),
                    _held: Held::Shared(server),
                }
            }
            source => {
                let server = Server::start(&source).await;
                TestEtcd {
                    config: EtcdConfig::new(server.endpoints()),
                    _held: Held::Own(server),
                }
            }
        })
    }

    /// The config to connect with.
    pub fn config(&self) -> EtcdConfig {
        self.config.clone()
    }

    /// Connects a backend.
    pub async fn backend(&self) -> EtcdBackend {
        EtcdBackend::connect(self.config())
            .await
            .expect("connect to the test etcd")
    }
}
