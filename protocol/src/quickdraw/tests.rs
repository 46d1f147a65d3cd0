//! Tests of the parent module.

use super::*;

/// A sawtooth: x one step per point, y jumping between 0 and 800 at every sample.
fn sawtooth(n: u32) -> QdStroke {
    QdStroke {
        x: (0..n).map(f64::from).collect(),
        y: (0..n)
            .map(|i| if i % 2 == 0 { 0.0 } else { 800.0 })
            .collect(),
        t: None,
        float_form: Vec::new(),
    }
}

#[test]
fn whole_numbers_written_as_floats_come_back_as_floats() {
    // Detexify's derived lines write every coordinate as a float ("255.0"), some not.
    let line = r#"{"word":"heart","key_id":"1","drawing":[[[90.066,0.0,255],[255.0,1,-0.0]],[[3.0],[4]]],"source":"detexify/heart#1"}"#;
    let rec = Record::parse_line(line).unwrap();
    assert_eq!(rec.drawing[0].float_form, vec![1, 3, 5]);
    assert_eq!(rec.drawing[1].float_form, vec![0]);
    assert_eq!(rec.to_line(), line);
    let d = rec.into_drawing();
    assert_eq!(
        d.source.as_ref().unwrap().float_form,
        Some(vec![1, 3, 5, 6])
    );
    let decoded = crate::packed::decode(&crate::packed::encode(&d)).unwrap();
    assert_eq!(Record::from_drawing(&decoded, None).to_line(), line);
    // Exponent forms of whole numbers come back as floats too; other forms shortest.
    let line = r#"{"word":"line","key_id":"2","drawing":[[[1e2,0.50],[2,3]]]}"#;
    let back = Record::parse_line(line).unwrap().to_line();
    assert_eq!(
        back,
        r#"{"word":"line","key_id":"2","drawing":[[[100.0,0.5],[2,3]]]}"#
    );
}

#[test]
fn simplification_work_is_bounded_for_any_stroke() {
    let stroke = sawtooth(10_000);
    let out = simplify(&[stroke.clone(), stroke]);
    assert_eq!(out.len(), 2);
    // The bound holds on the resampled points, whatever their number.
    let pts: Vec<(f64, f64)> = (0..200_000)
        .map(|i| (f64::from(i) * 0.01, if i % 2 == 0 { 0.0 } else { 20.0 }))
        .collect();
    let (kept, work) = rdp(&pts, 2.0);
    assert!(work <= pts.len() * RDP_WORK_PER_POINT, "{work}");
    // Never fewer points than needed: every tooth's tip is kept.
    assert!(kept.len() >= pts.len() / 2, "{}", kept.len());
    // A long stroke is resampled to at most MAX_RESAMPLED points.
    let long = QdStroke {
        x: (0..10_000).map(|i| f64::from(i % 2) * 255.0).collect(),
        y: (0..10_000).map(f64::from).collect(),
        t: None,
        float_form: Vec::new(),
    };
    let out = simplify(&[long]);
    assert!(out[0].x.len() <= MAX_RESAMPLED + 1);
}

#[test]
fn real_strokes_stay_far_from_the_work_bound() {
    let text =
        std::fs::read_to_string(inkset_testkit::shared_data().join("quickdraw/raw/circle.ndjson"))
            .unwrap();
    for line in text.lines().take(20) {
        let r = Record::parse_line(line).unwrap();
        for s in &r.drawing {
            let pts: Vec<(f64, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
            let (_, work) = rdp(&resample(&pts, 1.0), 2.0);
            assert!(work < pts.len().max(1) * 1_000, "{work}");
        }
    }
}

const RAW: &str = r#"{"word":"circle","countrycode":"US","timestamp":"2017-01-25 03:11:35.55071 UTC","recognized":true,"key_id":"5266005389475840","drawing":[[[635,48.564998626708984,-3.5],[265,265,1001],[0,16,33]]]}"#;

#[test]
fn raw_round_trips_byte_for_byte() {
    let rec = Record::parse_line(RAW).unwrap();
    assert_eq!(rec.key_id, 5_266_005_389_475_840);
    assert_eq!(rec.to_line(), RAW);
    let drawing = rec.clone().into_drawing();
    let back = Record::from_drawing(&drawing, None);
    assert_eq!(back.to_line(), RAW);
}

#[test]
fn key_id_survives_past_2_pow_53() {
    let line = RAW.replace("5266005389475840", "18446744073709551615");
    let rec = Record::parse_line(&line).unwrap();
    assert_eq!(rec.key_id, u64::MAX);
    assert_eq!(rec.to_line(), line);
}

#[test]
fn bad_records_name_the_field() {
    let err = Record::parse_line(&RAW.replace("UTC", "CET")).unwrap_err();
    assert_eq!(err.field, "timestamp");
    let err = Record::parse_line(&RAW.replace("[0,16,33]", "[0,16]")).unwrap_err();
    assert_eq!(err.field, "drawing[0]");
    let err = Record::parse_line(&RAW.replace("\"5266005389475840\"", "\"12x\"")).unwrap_err();
    assert_eq!(err.field, "key_id");
}

#[test]
fn timestamps_parse() {
    assert_eq!(
        parse_timestamp("1970-01-01 00:00:01.5 UTC").unwrap(),
        1_500_000
    );
    assert_eq!(format_timestamp_ms(1_500), "1970-01-01 00:00:01.500000 UTC");
}

#[test]
fn tiny_extents_and_dots_simplify_to_finite_points() {
    let tiny = QdStroke {
        x: vec![0.0, 1e-310],
        y: vec![0.0, 0.0],
        t: None,
        float_form: Vec::new(),
    };
    let out = simplify(&[tiny]);
    assert!(out[0].x.iter().chain(&out[0].y).all(|v| v.is_finite()));
    let dot = QdStroke {
        x: vec![86.0, 86.0],
        y: vec![50.0, 50.0],
        t: None,
        float_form: Vec::new(),
    };
    let wide = QdStroke {
        x: vec![0.0, 255.0],
        y: vec![0.0, 0.0],
        t: None,
        float_form: Vec::new(),
    };
    let out = simplify(&[dot, wide]);
    assert_eq!(out[0].x.len(), 2, "a dot stays two points");
}

#[test]
fn simplified_records_pass_through_and_api_key_ids_differ() {
    let line = r#"{"word":"line","key_id":"7","drawing":[[[0,255],[3,3]]]}"#;
    let rec = Record::parse_line(line).unwrap();
    assert!(rec.is_simplified());
    assert_eq!(rec.simplified().to_line(), line);
    let a = api_key_id(Uuid::from_u128(1));
    let b = api_key_id(Uuid::from_u128(1 << 64 | 1));
    assert_ne!(a, b);
    assert!(a < 1 << 63);
    let err = Record::parse_line(&RAW.replace("\"word\"", "\"extra\":1,\"word\"")).unwrap_err();
    assert_eq!(err.code, "invalid_type");
}

#[test]
fn simplify_fits_0_to_255() {
    let s = QdStroke {
        x: (0..100).map(f64::from).collect(),
        y: (0..100).map(|i| f64::from(i) * 0.5 + 3.0).collect(),
        t: None,
        float_form: Vec::new(),
    };
    let out = simplify(&[s]);
    assert_eq!(out[0].x.first(), Some(&0.0));
    assert_eq!(out[0].x.last(), Some(&255.0));
    // A straight line keeps only its end points.
    assert_eq!(out[0].x.len(), 2);
}
