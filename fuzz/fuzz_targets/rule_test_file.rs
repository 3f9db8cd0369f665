//! The rule test-file parser (`rules/tests/*.toml`): any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_rules::testfile::TestFile;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = TestFile::parse(std::path::Path::new("fuzz.toml"), text);
    }
});
