//! The config parser: any text as `config.toml`. An error, never a panic; a config that
//! parses is written back and parses again to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_keeper::Config;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(c) = Config::parse(text) {
        let again = Config::parse(&c.to_toml()).expect("a parsed config, written back, parses");
        assert_eq!(again.to_toml(), c.to_toml());
    }
});
