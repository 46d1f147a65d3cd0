//! One line of a Quick, Draw! ndjson import (raw or simplified, per the dataset's README):
//! parsing, conversion to a drawing and validation never panic; a record that parses
//! converts to a drawing that an import accepts or refuses with a named field.
#![no_main]

use inkset_protocol::quickdraw::Record;
use inkset_protocol::validate::{Limits, Origin, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(record) = Record::parse_line(line) else {
        return;
    };
    let again = Record::parse_line(&record.to_line()).expect("own output parses");
    assert_eq!(again.to_line(), record.to_line(), "ndjson round trip");
    let drawing = record.into_drawing();
    if let Err(e) = validate(&drawing, Origin::Import, &Limits::DEFAULT, |_| true) {
        assert!(!e.field.is_empty());
    }
});
