//! Free loopback ports for the servers the fixtures start.
//!
//! A port the kernel hands out for `127.0.0.1:0` is free only until the next outgoing
//! connection takes it as its own source port: between choosing a server's port and the server
//! binding it, any client of any test may. So ports are chosen below the kernel's ephemeral
//! range (`/proc/sys/net/ipv4/ip_local_port_range`), where no outgoing connection lands, from a
//! starting point of the process's own (processes running at the same time walk different
//! stretches), never twice in one process, and only when a bind shows them free now.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// Ports handed out by this process.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The lowest port considered: below it are the well-known and registered services.
const LOWEST: u16 = 15_000;

/// A loopback port no server of this process was given and nothing listens on now, outside
/// the kernel's range of source ports when that range is known.
pub fn free_loopback_port() -> u16 {
    let Some(highest) = ephemeral_start().and_then(|start| start.checked_sub(1)) else {
        return kernel_chosen();
    };
    if highest <= LOWEST {
        return kernel_chosen();
    }
    let span = u32::from(highest - LOWEST) + 1;
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let start = crate::random_u64() % u64::from(span);
    for step in 0..span {
        let offset = (start + u64::from(step)) % u64::from(span);
        let port = LOWEST + u16::try_from(offset).unwrap_or(0);
        if given.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.insert(port);
        return port;
    }
    kernel_chosen()
}

/// The first port of the kernel's ephemeral range, when it can be read.
fn ephemeral_start() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// A port the kernel chooses (free now, but inside the ephemeral range).
fn kernel_chosen() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_given_twice_and_lie_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_loopback_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        if let Some(start) = ephemeral_start().filter(|start| *start > LOWEST + 1) {
            assert!(ports.iter().all(|port| (LOWEST..start).contains(port)));
        }
    }
}
