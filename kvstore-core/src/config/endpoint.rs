//! [`Endpoint`]: one server of a store URL, checked before anything dials it.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::{Error, Result};

/// A server address: a host name or IP address, and a port.
///
/// Parsed from `host`, `host:port`, `[v6]` or `[v6]:port` (an IPv6 address always in brackets),
/// optionally after `http://` or `https://`; a missing port is the backend's default. Anything
/// else — an empty host, a port that is not a number from 1 to 65535, a path, characters no host
/// name has — is [`Error::InvalidConfig`] naming the endpoint, so that a typo is refused at once
/// instead of dialling somewhere else.
///
/// ```
/// use kvstore_core::config::Endpoint;
/// let e = Endpoint::parse("[::1]:2379", 2379)?;
/// assert_eq!((e.host.as_str(), e.port), ("::1", 2379));
/// assert_eq!(e.to_string(), "[::1]:2379");
/// assert_eq!(Endpoint::parse("etcd-0", 2379)?.to_string(), "etcd-0:2379");
/// assert!(Endpoint::parse("127.0.0.1:notaport", 2379).unwrap_err().is_invalid_config());
/// # Ok::<(), kvstore_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name or IP address (an IPv6 address without its brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `text`, with `default_port` when it names none.
    pub fn parse(text: &str, default_port: u16) -> Result<Endpoint> {
        let invalid = |why: &str| Error::InvalidConfig {
            message: format!("endpoint {text:?}: {why}"),
        };
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
            .unwrap_or(text);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (address, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("an IPv6 address needs its closing ']'"))?;
            address
                .parse::<Ipv6Addr>()
                .map_err(|_| invalid("not an IPv6 address between the brackets"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("expected ':port' after the IPv6 address"))?,
                ),
            };
            (address, port)
        } else {
            match rest.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err(invalid("an IPv6 address goes in brackets: [::1]:2379"))
                }
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let name_chars = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
        if !rest.starts_with('[') && !host.chars().all(name_chars) {
            return Err(invalid(
                "a host name has only letters, digits, '-', '.' and '_'",
            ));
        }
        let port = match port {
            None => default_port,
            Some(port) => match port.parse::<u16>() {
                Ok(number) if number > 0 && port.bytes().all(|b| b.is_ascii_digit()) => number,
                _ => return Err(invalid("the port must be a number from 1 to 65535")),
            },
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
        })
    }
}

/// `host:port`, an IPv6 address in brackets.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn hosts_ports_and_ipv6_parse() {
        for (text, shown) in [
            ("h:2379", "h:2379"),
            ("h", "h:2379"),
            ("10.0.0.1:1", "10.0.0.1:1"),
            ("[::1]", "[::1]:2379"),
            ("[fe80::1]:65535", "[fe80::1]:65535"),
            ("http://etcd-0.svc:2380", "etcd-0.svc:2380"),
            ("https://h:2379/", "h:2379"),
        ] {
            let endpoint = Endpoint::parse(text, 2379).unwrap();
            assert_eq!(endpoint.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn malformed_endpoints_name_themselves() {
        for text in [
            "127.0.0.1:notaport",
            "h:0",
            "h:65536",
            "h:+80",
            "h:",
            ":2379",
            "",
            "::1",
            "[::1",
            "[::1]2379",
            "[not-v6]:1",
            "h/path:1",
            "h:80/x",
            "a b:1",
        ] {
            let err = Endpoint::parse(text, 2379).unwrap_err();
            assert!(err.is_invalid_config(), "{text}: {err}");
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }
}
