//! The scenario parser of the simulated tenant: any text as a scenario file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = lookout_sim::Scenario::parse(text);
    }
});
