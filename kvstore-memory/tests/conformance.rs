//! The whole conformance suite against the in-memory backend, on paused tokio time — and again
//! through the namespace layer, which must keep every rule.

use kvstore_codec::Json;
use kvstore_core::conformance::Fixture;
use kvstore_core::Store;
use kvstore_memory::MemoryBackend;

kvstore_core::conformance_suite!(
    #[tokio::test(start_paused = true)]
    |_isolation| async { Fixture::new(Store::new(MemoryBackend::new(), Json)) }
);

mod namespaced {
    use std::sync::Arc;

    use kvstore_codec::Json;
    use kvstore_core::backend::Namespaced;
    use kvstore_core::conformance::Fixture;
    use kvstore_core::Store;
    use kvstore_memory::MemoryBackend;

    kvstore_core::conformance_suite!(
        #[tokio::test(start_paused = true)]
        |_isolation| async {
            let namespaced = Namespaced::new(Arc::new(MemoryBackend::new()), "/tenant").unwrap();
            Fixture::new(Store::new(namespaced, Json))
        }
    );
}
