//! The data-response parser: any bytes from the network, through the wire types to the typed
//! snapshot (the subscription asks for everything the catalogue knows). Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_keeper::snapshot::{Plan, Snapshot};
use lookout_statsapi::DataResponse;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(data) = serde_json::from_slice::<DataResponse>(bytes) {
        for plan in [Plan::overview(), Plan::default()] {
            let snap = Snapshot::from_data(&plan, &data, 1_700_000_000);
            let _ = serde_json::to_string(&snap);
        }
    }
});
