//! The whole conformance suite against the in-memory backend, on paused tokio time.

use kvstore::conformance::Fixture;
use kvstore::{Json, MemoryBackend, Store};

kvstore::conformance_suite!(
    #[tokio::test(start_paused = true)]
    |_isolation| async { Fixture::new(Store::new(MemoryBackend::new(), Json)) }
);
