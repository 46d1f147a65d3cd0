//! Tests of the parent module.

use super::*;

fn drawing(points: Vec<Point>) -> Drawing {
    Drawing {
        id: Uuid::from_u128(7),
        shape: "line".into(),
        canvas: Some(Canvas {
            width: 390.5,
            height: 844.0,
        }),
        strokes: vec![
            Stroke {
                points: points.clone(),
                color: Some("#112233".into()),
                width: Some(4.25),
                pointer_type: Some("touch".into()),
                pressure_measured: Some(false),
            },
            Stroke {
                points,
                color: None,
                width: None,
                pointer_type: None,
                pressure_measured: None,
            },
        ],
        duration_ms: Some(1234),
        device: Some(Device::Touch),
        user_agent: Some("Mozilla/5.0".into()),
        device_pixel_ratio: Some(3.0),
        prompt_to_first_point_ms: Some(99),
        session_id: Some(Uuid::from_u128(9)),
        source: Some(SourceMeta {
            key_id: u64::MAX,
            recognized: Some(false),
            countrycode: Some("DE".into()),
            timestamp: Some("2017-01-25 03:11:35.55071 UTC".into()),
            origin: None,
            float_form: Some(vec![0, 3, 4, 900]),
        }),
        guess: Some(Guess {
            recognized: true,
            confidence: 0.875,
            top: Some("line".into()),
            model_version: 4,
        }),
        dropped_samples: Some(3),
    }
}

fn round_trip(d: &Drawing) -> usize {
    let bytes = encode(d);
    let back = decode(&bytes).unwrap();
    // Compare bit patterns: PartialEq on f64 would accept -0.0 == 0.0.
    assert!(
        format!("{back:?}") == format!("{d:?}"),
        "round trip changed the drawing"
    );
    for (a, b) in back.strokes.iter().zip(&d.strokes) {
        for (p, q) in a.points.iter().zip(&b.points) {
            assert_eq!(p.x.to_bits(), q.x.to_bits());
            assert_eq!(p.y.to_bits(), q.y.to_bits());
            assert_eq!(p.pressure.map(f64::to_bits), q.pressure.map(f64::to_bits));
            for (e, f) in p.extras().iter().zip(q.extras()) {
                assert_eq!(e.1.map(f64::to_bits), f.1.map(f64::to_bits), "{}", e.0);
            }
        }
    }
    bytes.len()
}

#[test]
fn every_codec_round_trips() {
    let cases: Vec<Vec<Point>> = vec![
        (0..50)
            .map(|i| Point {
                x: f64::from(i * 3),
                y: 400.0 - f64::from(i),
                pressure: Some(0.5),
                timestamp: Some(1_700_000_000_000 + i64::from(i) * 8),
                ..Default::default()
            })
            .collect(),
        (0..50)
            .map(|i| Point {
                x: f64::from(i) * 0.25 + 0.1,
                y: -f64::from(i) * 1.375,
                pressure: Some(f64::from(i) / 50.0),
                timestamp: None,
                // A pen's tilt and twist, a finger's contact size.
                tilt_x: Some(f64::from(i % 7) - 45.0),
                tilt_y: Some(12.0),
                twist: Some(f64::from(i) * 7.1),
                width: Some(23.4375),
                height: Some(f64::from(i) / 3.0),
            })
            .collect(),
        (0..50)
            .map(|i| Point {
                x: f64::from(48.565_f32 + i as f32),
                y: -0.0,
                pressure: None,
                timestamp: Some(i64::from(i)),
                ..Default::default()
            })
            .collect(),
        (0..50)
            .map(|i| Point {
                x: std::f64::consts::PI * f64::from(i),
                y: f64::MAX / f64::from(i + 1),
                pressure: Some(1.0 / 3.0),
                timestamp: Some(1 << 53),
                ..Default::default()
            })
            .collect(),
    ];
    for points in cases {
        round_trip(&drawing(points));
    }
}

#[test]
fn integer_strokes_are_small() {
    let points: Vec<Point> = (0..100)
        .map(|i| Point {
            x: 100.0 + f64::from(i),
            y: 200.0 + f64::from(i % 7),
            pressure: Some(0.5),
            timestamp: Some(1_700_000_000_000 + i64::from(i) * 16),
            ..Default::default()
        })
        .collect();
    let size = round_trip(&drawing(points));
    // 200 points: ~4 bytes each, plus metadata.
    assert!(size < 1000, "{size} bytes");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let bytes = encode(&drawing(vec![Point {
        x: 1.0,
        y: 2.0,
        pressure: None,
        timestamp: None,
        ..Default::default()
    }]));
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err());
    }
    let mut seg = Vec::new();
    let (off, len) = push_framed(&mut seg, COMPRESSION_NONE, &bytes);
    let (tag, rec) = unframe(&seg[off..off + len]).unwrap();
    assert_eq!((tag, rec), (COMPRESSION_NONE, bytes.as_slice()));
    let all: Vec<_> = segment_records(&seg).unwrap().collect();
    assert_eq!(all.len(), 1);
}

/// Found by `cargo fuzz run packed_record` (fuzz/fuzz_targets/packed_record.rs): a
/// forged record with a `NaN` canvas width decoded into a drawing no validation would
/// accept.
#[test]
fn a_forged_non_finite_number_is_refused() {
    let forged = [
        0x01, 0x3f, 0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x01, 0x3f,
        0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x06, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert!(matches!(
        decode(&forged),
        Err(DecodeError::Malformed("non-finite number"))
    ));
}
