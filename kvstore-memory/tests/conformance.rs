//! The whole conformance suite against the in-memory backend, on paused tokio time.

use kvstore_codec::Json;
use kvstore_core::conformance::Fixture;
use kvstore_core::Store;
use kvstore_memory::MemoryBackend;

kvstore_core::conformance_suite!(
    #[tokio::test(start_paused = true)]
    |_isolation| async { Fixture::new(Store::new(MemoryBackend::new(), Json)) }
);
