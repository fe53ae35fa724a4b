//! The target parser on arbitrary input: it never panics, and what it accepts
//! prints canonically and parses back to the same target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls::target::Target;

fuzz_target!(|input: &str| {
    if let Ok(target) = input.parse::<Target>() {
        let canonical = target.to_string();
        assert_eq!(canonical.parse::<Target>(), Ok(target));
    }
});
