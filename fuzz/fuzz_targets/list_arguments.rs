//! Caller-supplied strings of the typed store — continue tokens, resource versions, keys — on
//! the memory backend: typed errors, never a panic.
#![no_main]

use std::sync::OnceLock;

use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{ListOptions, Preconditions, ResourceVersion, Store, WatchFrom};
use kvstore_memory::MemoryBackend;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

fn setup() -> &'static (Runtime, Store<Json>) {
    static SETUP: OnceLock<(Runtime, Store<Json>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = Store::new(MemoryBackend::new(), Json);
        runtime.block_on(async {
            for i in 0..5 {
                let name = format!("w{i}");
                store
                    .create(&format!("/fuzz/{name}"), &widget(&name, "red"))
                    .await
                    .unwrap();
            }
        });
        (runtime, store)
    })
}

fuzz_target!(|text: &str| {
    let (runtime, store) = setup();
    runtime.block_on(async {
        let options = ListOptions {
            limit: Some(2),
            continue_token: Some(text.to_owned()),
            ..ListOptions::default()
        };
        if let Err(err) = store.list::<Widget>("/fuzz", &options).await {
            assert!(err.is_invalid_argument() || err.is_gone(), "{err}");
        }
        if let Ok(rv) = text.parse::<ResourceVersion>() {
            let at = Preconditions::resource_version(rv);
            let _ = store.delete::<Widget>("/fuzz/absent", &at).await;
            let _ = store.watch::<Widget>("/fuzz/w0", WatchFrom::Version(rv)).await;
        }
        let _ = store.get::<Widget>(text).await;
    });
});
