//! Faults the scenarios share: a network that misbehaves between a client and its server, and
//! compaction while the clients run.

use std::time::Duration;

use kvstore_core::{Codec, ResourceVersion, Store};

use crate::proxy::{Mode, Proxy};

/// Three rounds, timed by `seed`: the proxy delays (10–100 ms a chunk) or holds every byte
/// for 0.1–1.5 s, then cuts every connection and refuses new ones for 50–300 ms, then heals.
pub async fn misbehave(proxy: &Proxy, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(rng.u64(50..200))).await;
        let fault = match rng.u8(..3) {
            0 => Mode::Delay(Duration::from_millis(rng.u64(10..100))),
            _ => Mode::Blackhole,
        };
        proxy.set(fault);
        tokio::time::sleep(Duration::from_millis(rng.u64(100..1500))).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(rng.u64(50..300))).await;
        proxy.heal();
    }
}

/// `rounds` times, every `every`: compacts `store`'s history to 50 revisions behind its
/// current one (live watches a little behind go on; watches resumed from further back get
/// `Gone`).
pub async fn compact_behind<C: Codec>(store: &Store<C>, rounds: usize, every: Duration) {
    for _ in 0..rounds {
        tokio::time::sleep(every).await;
        if let Ok(now) = store.current_resource_version().await {
            let keep = now.revision().saturating_sub(50).max(1);
            if let Ok(rv) = ResourceVersion::new(keep) {
                let _ = store.compact(rv).await;
            }
        }
    }
}
