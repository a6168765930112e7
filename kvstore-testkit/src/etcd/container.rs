//! etcd in a Docker container, started through `testcontainers`.

use std::path::PathBuf;
use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::serves;

/// The image used when `KVSTORE_ETCD_IMAGE` is not set: an official etcd release.
pub const DEFAULT_IMAGE: &str = "quay.io/coreos/etcd:v3.5.17";

/// Where the etcd binary is in the official images and in `scripts/etcd-image`'s.
const ETCD_IN_IMAGE: &str = "/usr/local/bin/etcd";
const CLIENT_PORT: u16 = 2379;
/// How long a started container may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a Docker engine answers on its socket (`DOCKER_HOST=unix://...`, or the default
/// `/var/run/docker.sock`).
pub fn docker_answers() -> bool {
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(host) => match host.strip_prefix("unix://") {
            Some(path) => PathBuf::from(path),
            // A TCP engine: let testcontainers find out.
            None => return !host.is_empty(),
        },
        Err(_) => PathBuf::from("/var/run/docker.sock"),
    };
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// One etcd member in a container, removed when dropped.
pub struct EtcdContainer {
    endpoint: String,
    _container: ContainerAsync<GenericImage>,
}

impl EtcdContainer {
    /// Starts etcd from `KVSTORE_ETCD_IMAGE` (default [`DEFAULT_IMAGE`]) and waits until it
    /// serves; panics, with the reason, when it cannot.
    pub async fn start() -> Self {
        let image = std::env::var("KVSTORE_ETCD_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.into());
        let (name, tag) = split_image(&image);
        let peer = "http://127.0.0.1:2380";
        let container = GenericImage::new(name, tag)
            .with_exposed_port(CLIENT_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stderr("ready to serve client requests"))
            .with_cmd([
                ETCD_IN_IMAGE,
                "--name=kvstore-test",
                "--data-dir=/data",
                "--listen-client-urls=http://0.0.0.0:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                &format!("--initial-cluster=kvstore-test={peer}"),
            ])
            .with_startup_timeout(START_TIMEOUT)
            .start()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start etcd in a container from image {image} ({e}); without a \
                     registry, build a local image with scripts/etcd-image and set \
                     KVSTORE_ETCD_IMAGE"
                )
            });
        let port = container
            .get_host_port_ipv4(CLIENT_PORT.tcp())
            .await
            .unwrap_or_else(|e| panic!("etcd container from {image}: no host port: {e}"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while !serves(&endpoint).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "etcd in a container from {image} did not serve on {endpoint} within \
                 {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        EtcdContainer {
            endpoint,
            _container: container,
        }
    }

    /// The client URL on this host.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// `name:tag` → (`name`, `tag`); the tag defaults to `latest` (a `:` before the last `/` is a
/// registry port, not a tag).
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_names_split_at_the_tag() {
        assert_eq!(
            split_image("quay.io/coreos/etcd:v3.5.17"),
            ("quay.io/coreos/etcd", "v3.5.17")
        );
        assert_eq!(split_image("kvstore-etcd:local"), ("kvstore-etcd", "local"));
        assert_eq!(
            split_image("registry:5000/etcd"),
            ("registry:5000/etcd", "latest")
        );
        assert_eq!(split_image("etcd"), ("etcd", "latest"));
    }
}
