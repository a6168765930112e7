//! The service's kinds: `Server` in two versions, stored with postcard in v2, and the
//! [`Kinds`] its command line is built with.

use kvstore::{Object, ObjectMeta, Postcard, Scheme};
use kvstore_cli::Kinds;
use serde::{Deserialize, Serialize};

/// Version 1: where a server listens, as `host:port`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Server", api_version = "example.com/v1")]
pub struct ServerV1 {
    pub metadata: ObjectMeta,
    pub address: String,
}

/// Version 2, the one stored: host and port apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
#[object(kind = "Server", api_version = "example.com/v2")]
pub struct ServerV2 {
    pub metadata: ObjectMeta,
    pub host: String,
    pub port: u16,
}

impl TryFrom<ServerV1> for ServerV2 {
    type Error = String;
    fn try_from(v1: ServerV1) -> Result<Self, String> {
        let (host, port) = v1
            .address
            .rsplit_once(':')
            .ok_or_else(|| format!("{:?} has no port", v1.address))?;
        Ok(ServerV2 {
            host: host.to_owned(),
            port: port.parse().map_err(|_| format!("{port:?} is no port"))?,
            metadata: v1.metadata,
        })
    }
}

impl From<ServerV2> for ServerV1 {
    fn from(v2: ServerV2) -> Self {
        ServerV1 {
            address: format!("{}:{}", v2.host, v2.port),
            metadata: v2.metadata,
        }
    }
}

/// Both versions, v2 stored: what the service's store is built with.
pub fn scheme() -> Scheme<Postcard> {
    let mut scheme = Scheme::new();
    scheme
        .versions::<ServerV2>()
        .version::<ServerV1>()
        .storage::<ServerV2>()
        .register()
        .expect("the versions of Server");
    scheme
}

/// What the service's command line knows: both versions by their types, and how to migrate.
pub fn kinds() -> Kinds {
    Kinds::new()
        .kind::<ServerV1, _>(Postcard)
        .kind::<ServerV2, _>(Postcard)
        .migration::<ServerV2, _>(Postcard, scheme)
}
