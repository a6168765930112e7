//! Label and field selectors: parsed or refused, never a panic; what parses prints back.
#![no_main]

use kvstore_core::{FieldSelector, LabelSelector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(selector) = text.parse::<LabelSelector>() {
        let printed = selector.to_string();
        assert_eq!(
            printed.parse::<LabelSelector>().ok(),
            Some(selector),
            "{printed}"
        );
    }
    if let Ok(selector) = text.parse::<FieldSelector>() {
        let printed = selector.to_string();
        assert_eq!(
            printed.parse::<FieldSelector>().ok(),
            Some(selector),
            "{printed}"
        );
    }
});
