//! etcd as local processes: [`EtcdCluster`] starts members on free loopback ports in a
//! temporary directory; members can be killed (`SIGKILL`) and restarted on their data
//! directories, for fault tests.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use kvstore_etcd::EtcdConfig;

use super::{etcd_binary, serves, INSTALL_HINT};
use crate::ports::free_loopback_port as free_port;

/// How long a started member may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One member of a loopback cluster.
struct Member {
    name: String,
    /// Whether clients speak TLS to it (it was given a certificate).
    https: bool,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn client_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }
    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn spawn(&mut self, binary: &PathBuf, initial_cluster: &str, token: &str, extra: &[String]) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("etcd log file");
        let child = Command::new(binary)
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen-client-urls")
            .arg(self.client_url())
            .arg("--advertise-client-urls")
            .arg(self.client_url())
            .arg("--listen-peer-urls")
            .arg(self.peer_url())
            .arg("--initial-advertise-peer-urls")
            .arg(self.peer_url())
            .arg("--initial-cluster")
            .arg(initial_cluster)
            .arg("--initial-cluster-token")
            .arg(token)
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--logger")
            .arg("zap")
            .arg("--log-level")
            .arg("warn")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<_> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// A cluster of etcd processes on loopback, in a temporary directory; killed on drop.
pub struct EtcdCluster {
    binary: PathBuf,
    /// Flags every member starts with besides the cluster's own.
    extra_args: Vec<String>,
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
    _dir: TempDir,
}

impl EtcdCluster {
    /// Starts `size` members and waits until every one serves.
    pub async fn start(size: usize) -> Self {
        Self::start_with(size, &[]).await
    }

    /// Starts `size` members with the etcd flags `extra_args` (e.g. `--auth-token-ttl 2`) and
    /// waits until every one serves. Given `--cert-file`, the members serve clients over TLS
    /// (`https://` endpoints; readiness is then a TCP connection, the tests bring the client's
    /// TLS settings).
    pub async fn start_with(size: usize, extra_args: &[&str]) -> Self {
        let https = extra_args.contains(&"--cert-file");
        let binary = etcd_binary().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let dir = tempfile::Builder::new()
            .prefix("kvstore-etcd-")
            .tempdir()
            .expect("temporary directory");
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                https,
                client_port: free_port(),
                peer_port: free_port(),
                data_dir: dir.path().join(format!("m{i}.data")),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let token = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kvstore".to_owned());
        let mut cluster = EtcdCluster {
            binary,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            members,
            initial_cluster,
            token,
            _dir: dir,
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        for i in 0..size {
            cluster.wait_serving(i).await;
        }
        cluster
    }

    fn spawn(&mut self, index: usize) {
        let (binary, initial, token) = (
            self.binary.clone(),
            self.initial_cluster.clone(),
            self.token.clone(),
        );
        let extra = self.extra_args.clone();
        self.members[index].spawn(&binary, &initial, &token, &extra);
    }

    /// Waits until member `index` answers requests.
    pub async fn wait_serving(&mut self, index: usize) {
        let endpoint = self.members[index].client_url();
        let (https, port) = (self.members[index].https, self.members[index].client_port);
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let ready = match https {
                true => tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok(),
                false => serves(&endpoint).await,
            };
            if ready {
                return;
            }
            let member = &mut self.members[index];
            if let Some(Ok(Some(status))) = member.child.as_mut().map(Child::try_wait) {
                panic!(
                    "etcd {} exited with {status}:\n{}",
                    member.name,
                    member.log_tail()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "etcd {} did not serve within {START_TIMEOUT:?}:\n{}",
                member.name,
                member.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The client URL of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// The client URL of member `index`.
    pub fn endpoint(&self, index: usize) -> String {
        self.members[index].client_url()
    }

    /// A config reaching every member.
    pub fn config(&self) -> EtcdConfig {
        EtcdConfig::new(self.endpoints())
    }

    /// Kills member `index` with `SIGKILL`.
    pub fn kill(&mut self, index: usize) {
        self.members[index].kill();
    }

    /// Restarts member `index` on its data directory and waits until it serves.
    pub async fn restart(&mut self, index: usize) {
        self.members[index].kill();
        self.spawn(index);
        self.wait_serving(index).await;
    }

    /// The index of the current raft leader.
    pub async fn leader(&self) -> Option<usize> {
        for (index, member) in self.members.iter().enumerate() {
            if member.child.is_none() {
                continue;
            }
            let Ok(mut client) = etcd_client::Client::connect([member.client_url()], None).await
            else {
                continue;
            };
            let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(2), client.status()).await
            else {
                continue;
            };
            if status.leader() == status.header().map_or(0, |h| h.member_id()) {
                return Some(index);
            }
        }
        None
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }
}
