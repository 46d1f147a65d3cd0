//! A stored record read back from a segment (bit rot, a truncated object, a hostile file):
//! unframing and decoding never panic and never allocate without bound.
#![no_main]

use inkset_protocol::packed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(drawing) = packed::decode(data) {
        // Whatever decodes re-encodes to something that decodes to the same drawing.
        let again = packed::decode(&packed::encode(&drawing)).expect("own encoding decodes");
        assert_eq!(again, drawing);
    }
    if let Ok((_, payload)) = packed::unframe(data) {
        let _ = packed::decode(payload);
    }
});
