//! A drawing upload's body (`POST /api/drawings`): JSON parsing and validation never panic,
//! and every drawing that validates survives the packed storage encoding unchanged.
#![no_main]

use inkset_protocol::validate::{Limits, Origin, parse_json, validate};
use inkset_protocol::{Drawing, packed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(drawing) = parse_json::<Drawing>(data) else {
        return;
    };
    for origin in [Origin::Api, Origin::Import] {
        if validate(&drawing, origin, &Limits::DEFAULT, |_| true).is_ok() {
            let decoded = packed::decode(&packed::encode(&drawing)).expect("own encoding decodes");
            assert_eq!(decoded, drawing, "packed round trip");
        }
    }
});
