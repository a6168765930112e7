//! A ZooKeeper ensemble of three members on loopback ports, each a process of its own that a
//! test can kill (`SIGKILL`) and restart — the leader included.

use std::time::Duration;

use super::{free_port, local_server, mode, ZooKeeperServer, MEMBER, START_TIMEOUT};
use crate::Skipped;

/// Three ZooKeeper servers forming one ensemble; killed on drop.
pub struct ZooKeeperEnsemble {
    members: Vec<ZooKeeperServer>,
}

impl ZooKeeperEnsemble {
    /// Starts three members and waits until they elected a leader and all serve; [`Skipped`]
    /// (outside CI) when ZooKeeper or Java is not installed.
    pub async fn start() -> Result<Self, Skipped> {
        let java = local_server()?;
        // Each member: its client port, and the ports the members talk and elect on.
        let ports: Vec<[u16; 3]> = (0..3)
            .map(|_| [free_port(), free_port(), free_port()])
            .collect();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(i, [_, peer, election])| {
                format!("server.{}=127.0.0.1:{peer}:{election}\n", i + 1)
            })
            .collect();
        let mut members = Vec::new();
        for (i, [client, ..]) in ports.iter().enumerate() {
            let dir = tempfile::Builder::new()
                .prefix("kvstore-zk-ensemble-")
                .tempdir()
                .expect("temporary directory");
            let data = dir.path().join("data");
            std::fs::create_dir(&data).expect("data directory");
            std::fs::write(data.join("myid"), format!("{}\n", i + 1)).expect("myid");
            // As the standalone server's (forceSync=no: see there); a short tick, so that a
            // killed leader is replaced within seconds.
            let config = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=ruok,srvr\nforceSync=no\n{servers}",
                data.display()
            );
            std::fs::write(dir.path().join("zoo.cfg"), config).expect("zoo.cfg");
            members.push(ZooKeeperServer {
                java: java.clone(),
                main: MEMBER,
                port: *client,
                secure_port: None,
                dir,
                child: None,
            });
        }
        for member in &mut members {
            member.spawn();
        }
        let ensemble = ZooKeeperEnsemble { members };
        ensemble.wait_quorum().await;
        Ok(ensemble)
    }

    /// Every member's `127.0.0.1:port`, running or not: a connect string.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(ZooKeeperServer::endpoint).collect()
    }

    /// The member that leads now, if one does.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().position(|member| {
            member.child.is_some() && mode(&member.endpoint()).as_deref() == Some("leader")
        })
    }

    /// Kills member `index` with `SIGKILL`.
    pub fn kill(&mut self, index: usize) {
        self.members[index].kill();
    }

    /// Restarts member `index` on its data, and waits until the ensemble serves with it.
    pub async fn restart(&mut self, index: usize) {
        self.members[index].kill();
        self.members[index].spawn();
        self.wait_quorum().await;
    }

    /// Waits until a leader serves and every running member follows it.
    pub async fn wait_quorum(&self) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let running: Vec<String> = self
                .members
                .iter()
                .filter(|member| member.child.is_some())
                .map(ZooKeeperServer::endpoint)
                .collect();
            let modes = tokio::task::spawn_blocking(move || {
                running
                    .iter()
                    .map(|endpoint| mode(endpoint))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let serving = !modes.is_empty() && modes.iter().all(Option::is_some);
            if serving && modes.iter().flatten().any(|mode| mode == "leader") {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the ZooKeeper ensemble did not serve within {START_TIMEOUT:?} (modes {modes:?}):\n{}",
                self.members
                    .iter()
                    .map(ZooKeeperServer::log_tail)
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
