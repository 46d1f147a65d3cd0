//! Tests of the parent module.

use super::*;
use crate::drawing::{Canvas, Device, Point};
use uuid::Uuid;

fn sample() -> Drawing {
    Drawing {
        id: Uuid::nil(),
        shape: "circle".into(),
        canvas: Some(Canvas {
            width: 400.0,
            height: 300.0,
        }),
        strokes: vec![Stroke {
            points: (0..20)
                .map(|i| Point {
                    x: 10.0 + f64::from(i),
                    y: 20.0,
                    pressure: Some(0.5),
                    timestamp: Some(1_700_000_000_000 + i64::from(i) * 16),
                    ..Default::default()
                })
                .collect(),
            color: Some("#000000".into()),
            width: Some(3.0),
            pointer_type: Some("pen".into()),
            pressure_measured: Some(true),
        }],
        duration_ms: Some(304),
        device: Some(Device::Pen),
        user_agent: Some("test".into()),
        device_pixel_ratio: Some(2.0),
        prompt_to_first_point_ms: Some(400),
        session_id: None,
        source: None,
        guess: None,
        dropped_samples: None,
    }
}

fn check(d: &Drawing) -> Result<(), FieldError> {
    validate(d, Origin::Api, &Limits::DEFAULT, |s| s == "circle")
}

#[test]
fn a_missing_field_is_named() {
    let e =
        parse_json::<Drawing>(br#"{"id": "6f1c3f5e-3f1b-4f52-8d2a-4a8f2f0f7c11", "strokes": []}"#)
            .unwrap_err();
    assert_eq!((e.field.as_str(), e.code), ("shape", "invalid_type"));
    let e = parse_json::<Drawing>(
        br#"{"id": "6f1c3f5e-3f1b-4f52-8d2a-4a8f2f0f7c11", "shape": "circle",
             "strokes": [{"points": [{"x": 1}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.field, "strokes[0].points[0].y");
}

#[test]
fn guess_fields_are_checked_by_name() {
    let mut d = sample();
    d.guess = Some(crate::Guess {
        recognized: true,
        confidence: 0.93,
        top: Some("circle".into()),
        model_version: 3,
    });
    d.dropped_samples = Some(2);
    assert_eq!(check(&d), Ok(()));
    for bad in [f64::NAN, -0.1, 1.5] {
        if let Some(g) = d.guess.as_mut() {
            g.confidence = bad;
        }
        assert_eq!(
            check(&d).map_err(|e| e.field),
            Err("guess.confidence".to_owned())
        );
    }
    if let Some(g) = d.guess.as_mut() {
        g.confidence = 0.5;
        g.top = Some(String::new());
    }
    assert_eq!(check(&d).map_err(|e| e.field), Err("guess.top".to_owned()));
    d.guess = None;
    d.dropped_samples = Some(u32::MAX);
    assert_eq!(
        check(&d).map_err(|e| e.field),
        Err("dropped_samples".to_owned())
    );
}

#[test]
fn valid_drawing_passes() {
    assert_eq!(check(&sample()), Ok(()));
}

#[test]
fn errors_name_the_field() {
    let mut d = sample();
    d.strokes[0].points[17].x = f64::NAN;
    assert_eq!(check(&d).unwrap_err().field, "strokes[0].points[17].x");

    let mut d = sample();
    d.strokes[0].points[3].y = 1000.0;
    let err = check(&d).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.code),
        ("strokes[0].points[3].y", "out_of_range")
    );

    let mut d = sample();
    d.strokes[0].points[5].timestamp = Some(1);
    assert_eq!(check(&d).unwrap_err().code, "decreasing");

    let mut d = sample();
    d.strokes[0].points[2].pressure = Some(-0.1);
    assert_eq!(
        check(&d).unwrap_err().field,
        "strokes[0].points[2].pressure"
    );

    let mut d = sample();
    d.shape = "dog".into();
    assert_eq!(check(&d).unwrap_err().code, "unknown_shape");

    let mut d = sample();
    d.strokes.clear();
    assert_eq!(check(&d).unwrap_err().field, "strokes");

    let mut d = sample();
    d.canvas = None;
    assert_eq!(check(&d).unwrap_err().field, "canvas");

    let mut d = sample();
    d.strokes[0].color = Some("red".into());
    assert_eq!(check(&d).unwrap_err().field, "strokes[0].color");
}

#[test]
fn pen_tilt_twist_and_contact_size_are_kept_within_their_ranges() {
    let mut d = sample();
    for p in &mut d.strokes[0].points {
        p.tilt_x = Some(-90.0);
        p.tilt_y = Some(37.0);
        p.twist = Some(359.0);
        p.width = Some(23.4375);
        p.height = Some(1.0);
    }
    assert_eq!(check(&d), Ok(()));
    for (i, bad, field, code) in [
        (0, 90.5, "tilt_x", "out_of_range"),
        (1, f64::NAN, "tilt_y", "out_of_range"),
        (2, 360.0, "twist", "out_of_range"),
        (3, -1.0, "width", "out_of_range"),
    ] {
        let mut e = d.clone();
        e.strokes[0].points[4].set_extra(i, Some(bad));
        let err = check(&e).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.code),
            (format!("strokes[0].points[4].{field}").as_str(), code)
        );
    }
    let mut e = d.clone();
    e.strokes[0].points[3].height = None;
    let err = check(&e).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.code),
        ("strokes[0].points[3].height", "inconsistent")
    );
}

#[test]
fn pressures_devices_report_are_kept_and_marked() {
    // Android touch screens report above their advertised maximum of 1.
    for pressure in [0.0, 1.0, 1.0875, 4.0, f64::from(f32::MAX)] {
        let mut d = sample();
        for p in &mut d.strokes[0].points {
            p.pressure = Some(pressure);
        }
        assert_eq!(check(&d), Ok(()), "pressure {pressure}");
        assert_eq!(d.pressure_above_nominal(), pressure > 1.0, "{pressure}");
    }
    for pressure in [-0.1, -f64::MIN_POSITIVE, f64::INFINITY, f64::NAN] {
        let mut d = sample();
        d.strokes[0].points[1].pressure = Some(pressure);
        let err = check(&d).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.code),
            ("strokes[0].points[1].pressure", "out_of_range"),
            "pressure {pressure}"
        );
    }
}

#[test]
fn words_are_normalised_and_checked() {
    for (raw, word) in [
        ("circle", "circle"),
        ("Circle", "circle"),
        ("circle ", "circle"),
        ("  CIRCLE\t", "circle"),
        ("hot  air\u{a0}balloon", "hot air balloon"),
        ("The Eiffel Tower", "the eiffel tower"),
        ("left_curly_brace", "left_curly_brace"),
        ("c\u{153}ur", "c\u{153}ur"),
        ("Cafe\u{301}", "caf\u{e9}"),
    ] {
        assert_eq!(normalize_word(raw), word, "{raw:?}");
        assert_eq!(check_word(word, &Limits::DEFAULT), Ok(()), "{word:?}");
    }
    for (word, code) in [
        ("", "missing"),
        ("a,b", "invalid_word"),
        ("up/down", "invalid_word"),
        ("../x", "invalid_word"),
        ("/abs", "invalid_word"),
        ("back\\slash", "invalid_word"),
        ("say \"hi\"", "invalid_word"),
        ("bell\u{7}", "invalid_word"),
    ] {
        let err = check_word(word, &Limits::DEFAULT).unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("word", code), "{word:?}");
    }
    let long = "a".repeat(Limits::DEFAULT.max_shape_name_bytes + 1);
    assert_eq!(
        check_word(&long, &Limits::DEFAULT).unwrap_err().code,
        "too_long"
    );
}

#[test]
fn point_limits_are_enforced() {
    let mut d = sample();
    let p = d.strokes[0].points[0];
    d.strokes = (0..3)
        .map(|_| Stroke {
            points: vec![p; 9_000],
            ..d.strokes[0].clone()
        })
        .collect();
    let err = check(&d).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.code),
        ("strokes", "too_many_points")
    );
}

#[test]
fn parse_errors_name_the_field() {
    let body = br#"{"id":"00000000-0000-0000-0000-000000000000","shape":"circle","strokes":[{"points":[{"x":1,"y":"two"}]}]}"#;
    let err = parse_json::<Drawing>(body).unwrap_err();
    assert_eq!(err.field, "strokes[0].points[0].y");
    let body = br#"{"id":"00000000-0000-0000-0000-000000000000","shape":"circle","strokes":[{"points":[{"x":1e309,"y":1}]}]}"#;
    let err = parse_json::<Drawing>(body).unwrap_err();
    assert_eq!(err.field, "strokes[0].points[0].x");
    let body = br#"{"id":"00000000-0000-0000-0000-000000000000","shape":"circle","strokes":[{"points":[{"x":NaN,"y":1}]}]}"#;
    let err = parse_json::<Drawing>(body).unwrap_err();
    assert_eq!(err.field, "strokes[0].points[0].x");
}
