//! What the etcd process tests share: whether a local etcd can be started, and a JSON store
//! on a config.

#![allow(dead_code)] // each test file uses its own part

use kvstore::{EtcdBackend, EtcdConfig, Json, Store};

/// Whether a local etcd process can be started here; panics under CI when it cannot.
pub fn etcd_available() -> bool {
    match kvstore_testkit::etcd::local_etcd() {
        Ok(_) => true,
        Err(skipped) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{skipped}");
            }
            false
        }
    }
}

/// A JSON store on a backend connected with `config`.
pub async fn store_on(config: EtcdConfig) -> Store<Json> {
    Store::new(EtcdBackend::connect(config).await.unwrap(), Json)
}
