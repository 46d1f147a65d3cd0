//! An Open Inference Protocol infer body (JSON, or Triton's binary tensor extension when
//! the first byte is odd: the second and third bytes give the JSON header's length):
//! parsing never panics, and an accepted request holds exactly the values its shape needs.
#![no_main]

use inkset_protocol::oip::parse_infer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header_len, body) = match data {
        [flag, hi, lo, rest @ ..] if flag % 2 == 1 => {
            (Some(usize::from(*hi) << 8 | usize::from(*lo)), rest)
        }
        [_, rest @ ..] => (None, rest),
        [] => return,
    };
    if let Ok(req) = parse_infer(body, header_len, 2, 8) {
        assert!((1..=8).contains(&req.batch));
        assert_eq!(req.values.len(), req.batch * 4);
        assert!(req.values.iter().all(|v| v.is_finite()));
    }
});
