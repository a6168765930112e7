//! What the etcd process tests share: whether a local etcd can be started, and a JSON store
//! on a config.

#![allow(dead_code)] // each test file uses its own part

use kvstore::etcd::testing::{etcd_binary, under_ci};
use kvstore::{EtcdBackend, EtcdConfig, Json, Store};

/// Whether etcd can be started here; panics under CI when it cannot.
pub fn etcd_available() -> bool {
    if etcd_binary().is_some() {
        return true;
    }
    assert!(
        !under_ci(),
        "CI=true and no etcd binary: run scripts/install-deps"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipping: no etcd binary (apt-get install etcd-server)");
    }
    false
}

/// A JSON store on a backend connected with `config`.
pub async fn store_on(config: EtcdConfig) -> Store<Json> {
    Store::new(EtcdBackend::connect(config).await.unwrap(), Json)
}
