//! Store URLs: parsed or refused, never a panic, and a password never shows.
#![no_main]

use kvstore_core::StoreConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(config) = StoreConfig::from_url(text) {
        let shown = format!("{config} {config:?}");
        if let Some(password) = &config.password {
            let password = password.expose();
            // What the config shows besides the password may happen to hold the same text, and
            // a password of a few characters may be URL syntax itself ("//" in "scheme://").
            let user = config.username.clone().unwrap_or_default();
            let others = format!(
                "{}://{user} {user:?} {:?} {:?} {:?} {:?} {:?}",
                config.backend,
                config.username,
                config.endpoints,
                config.namespace,
                config.codec,
                config.options
            );
            if password.len() >= 6
                && !others.contains(password)
                && !others.contains(format!("{password:?}").trim_matches('"'))
            {
                assert!(!shown.contains(password), "{shown}");
            }
        }
    }
});
