//! The backends kvstore ships, by URL scheme: the one list of schemes, their features and
//! default ports.

/// A backend kvstore ships, as a URL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltIn {
    /// The URL scheme (`etcds` is `etcd` over TLS; `postgresql` is `postgres`).
    pub scheme: &'static str,
    /// The crate that implements it.
    pub package: &'static str,
    /// The feature of the `kvstore` facade that compiles it in (`None`: always there).
    pub feature: Option<&'static str>,
    /// The port of a host given without one; `None` for a store whose URL names no hosts.
    pub default_port: Option<u16>,
}

/// Every backend kvstore ships.
///
/// | scheme | crate | feature | default port |
/// |---|---|---|---|
/// | `memory` | `kvstore-memory` | (always) | — (`memory://NAME` names a store in the process) |
/// | `etcd`, `etcds` | `kvstore-etcd` | `etcd` (`etcd-tls` for `etcds`) | 2379 |
/// | `zk`, `zks` | `kvstore-zookeeper` | `zookeeper` | 2181 |
/// | `sqlite` | `kvstore-sqlite` | `sqlite` | — (`sqlite://PATH` names a file) |
/// | `postgres`, `postgresql` | `kvstore-postgres` | `postgres` | 5432 |
pub const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        scheme: "memory",
        package: "kvstore-memory",
        feature: None,
        default_port: None,
    },
    BuiltIn {
        scheme: "etcd",
        package: "kvstore-etcd",
        feature: Some("etcd"),
        default_port: Some(2379),
    },
    BuiltIn {
        scheme: "zk",
        package: "kvstore-zookeeper",
        feature: Some("zookeeper"),
        default_port: Some(2181),
    },
    BuiltIn {
        scheme: "sqlite",
        package: "kvstore-sqlite",
        feature: Some("sqlite"),
        default_port: None,
    },
    BuiltIn {
        scheme: "postgres",
        package: "kvstore-postgres",
        feature: Some("postgres"),
        default_port: Some(5432),
    },
];

/// The built-in backend of `scheme` (`etcds` is `etcd`, `zks` is `zk`), if kvstore ships one.
pub fn built_in(scheme: &str) -> Option<&'static BuiltIn> {
    let scheme = match scheme {
        "etcds" => "etcd",
        "zks" => "zk",
        "postgresql" => "postgres",
        other => other,
    };
    BUILT_IN.iter().find(|b| b.scheme == scheme)
}
