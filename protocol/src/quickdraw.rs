//! Google's Quick, Draw! ndjson, both ways, per the dataset's README
//! (<https://github.com/googlecreativelab/quickdraw-dataset>).
//!
//! One JSON object per line with `key_id` (a 64-bit integer written as a string), `word`,
//! `countrycode` (ISO 3166-1 alpha-2), `timestamp` (`YYYY-MM-DD hh:mm:ss.ffffff UTC`),
//! `recognized` (bool) and `drawing`:
//!
//! * raw: `[[x[], y[], t[]], ...]`, x and y in device pixels (any real number, some negative),
//!   t in ms since the drawing's first point;
//! * simplified: `[[x[], y[]], ...]`, integers 0..=255 after Google's preprocessing (align to
//!   the top-left, scale the longer side to 255, resample at 1 px, Ramer–Douglas–Peucker
//!   with ε = 2.0).
//!
//! `countrycode`, `recognized` and `timestamp` may be absent (the derived sets in the test
//! data have none). Numbers are kept exactly: integers are written back as integers, other
//! values in their shortest round-trip form.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::drawing::{Drawing, Point, SourceMeta, Stroke};
use crate::validate::{FieldError, parse_json};

/// Namespace of the UUIDv5 ids given to imported Quick, Draw! records: the id of a record
/// is `uuid_v5(QUICKDRAW_NAMESPACE, "quickdraw:<key_id>")`, so re-importing is idempotent.
pub const QUICKDRAW_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_0d6e_8a7c_4c4e_9f3a_2d71_5e0c_aa01);

/// One Quick, Draw! record as it appears on one ndjson line. Fields outside the dataset's
/// format (plus `source`, which the derived sets carry) are refused, so whatever is
/// imported can be exported unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The category, e.g. `"circle"`.
    pub word: String,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countrycode: Option<String>,
    /// `YYYY-MM-DD hh:mm:ss.ffffff UTC`, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Whether the game's model recognised the drawing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognized: Option<bool>,
    /// 64-bit id, written as a decimal string.
    #[serde(with = "key_id_string")]
    pub key_id: u64,
    /// The strokes.
    pub drawing: Vec<QdStroke>,
    /// Provenance of derived records (not part of Google's format; kept when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One stroke: `[x[], y[]]` (simplified) or `[x[], y[], t[]]` (raw).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QdStroke {
    /// x coordinates.
    pub x: Vec<f64>,
    /// y coordinates, as many as `x`.
    pub y: Vec<f64>,
    /// ms since the drawing's first point, as many as `x`; `None` in simplified data.
    pub t: Option<Vec<i64>>,
}

impl Record {
    /// Parses one ndjson line.
    ///
    /// # Errors
    /// A [`FieldError`] naming the field, e.g. `drawing[2][1]` for a stroke whose y array
    /// is malformed, or `timestamp` for a timestamp not in the dataset's format.
    pub fn parse_line(line: &str) -> Result<Self, FieldError> {
        let record: Self = parse_json(line.as_bytes())?;
        record.check()?;
        Ok(record)
    }

    fn check(&self) -> Result<(), FieldError> {
        if let Some(ts) = &self.timestamp {
            parse_timestamp(ts)?;
        }
        for (i, s) in self.drawing.iter().enumerate() {
            let n = s.x.len();
            if s.y.len() != n || s.t.as_ref().is_some_and(|t| t.len() != n) {
                return Err(FieldError::new(
                    format!("drawing[{i}]"),
                    "length_mismatch",
                    "x, y and t of a stroke must have the same length",
                ));
            }
        }
        let timed = self.drawing.iter().filter(|s| s.t.is_some()).count();
        if timed != 0 && timed != self.drawing.len() {
            return Err(FieldError::new(
                "drawing",
                "inconsistent",
                "either every stroke has t (raw) or none does (simplified)",
            ));
        }
        Ok(())
    }

    /// The drawing id an import of this record gets (see [`QUICKDRAW_NAMESPACE`]).
    pub fn drawing_id(&self) -> Uuid {
        Uuid::new_v5(
            &QUICKDRAW_NAMESPACE,
            format!("quickdraw:{}", self.key_id).as_bytes(),
        )
    }

    /// Converts to an Inkset [`Drawing`] (origin: import). No canvas, device or pressure;
    /// timestamps stay ms since the first point; the metadata goes to [`SourceMeta`].
    pub fn into_drawing(self) -> Drawing {
        let id = self.drawing_id();
        let strokes: Vec<Stroke> = self
            .drawing
            .into_iter()
            .map(|s| Stroke {
                points: (0..s.x.len())
                    .map(|i| Point {
                        x: s.x[i],
                        y: s.y[i],
                        pressure: None,
                        timestamp: s.t.as_ref().map(|t| t[i]),
                    })
                    .collect(),
                color: None,
                width: None,
                pointer_type: None,
                pressure_measured: None,
            })
            .collect();
        let times = strokes
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.timestamp));
        let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let duration_ms = (lo <= hi).then(|| u64::try_from(hi - lo).unwrap_or(0));
        Drawing {
            id,
            shape: self.word,
            canvas: None,
            strokes,
            duration_ms,
            device: None,
            user_agent: None,
            device_pixel_ratio: None,
            prompt_to_first_point_ms: None,
            session_id: None,
            source: Some(SourceMeta {
                key_id: self.key_id,
                recognized: self.recognized,
                countrycode: self.countrycode,
                timestamp: self.timestamp,
                origin: self.source,
            }),
            guess: None,
            dropped_samples: None,
        }
    }

    /// Builds the raw record of `drawing`.
    ///
    /// Imported drawings get back their `key_id`, metadata and exact x, y, t (and no
    /// timestamp if they had none). Drawings uploaded through the API get the `key_id` of
    /// [`api_key_id`], `t` relative to their first point, and `fallback_timestamp` (the
    /// server's receive time, in the dataset's format) as `timestamp`. Drawings without
    /// timing come out in the simplified shape `[x[], y[]]`.
    pub fn from_drawing(drawing: &Drawing, fallback_timestamp: Option<String>) -> Self {
        let imported = drawing.source.as_ref();
        let t0 = if imported.is_some() {
            0
        } else {
            drawing.first_timestamp().unwrap_or(0)
        };
        let strokes = drawing
            .strokes
            .iter()
            .map(|s| {
                let timed = s.points.iter().all(|p| p.timestamp.is_some());
                QdStroke {
                    x: s.points.iter().map(|p| p.x).collect(),
                    y: s.points.iter().map(|p| p.y).collect(),
                    t: timed.then(|| {
                        s.points
                            .iter()
                            .map(|p| p.timestamp.unwrap_or(0) - t0)
                            .collect()
                    }),
                }
            })
            .collect();
        let key_id = match imported {
            Some(src) => src.key_id,
            None => api_key_id(drawing.id),
        };
        Self {
            word: drawing.shape.clone(),
            countrycode: imported.and_then(|s| s.countrycode.clone()),
            timestamp: match imported {
                Some(src) => src.timestamp.clone(),
                None => fallback_timestamp,
            },
            recognized: imported.and_then(|s| s.recognized),
            key_id,
            drawing: strokes,
            source: imported.and_then(|s| s.origin.clone()),
        }
    }

    /// Whether the record is already in simplified form: no timing, integer coordinates
    /// within 0..=255.
    pub fn is_simplified(&self) -> bool {
        self.drawing.iter().all(|s| {
            s.t.is_none()
                && s.x
                    .iter()
                    .chain(&s.y)
                    .all(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v))
        })
    }

    /// The simplified form of this record, by Google's recipe (see the module docs); a
    /// record that [is simplified already](Self::is_simplified) comes back unchanged.
    pub fn simplified(&self) -> Self {
        if self.is_simplified() {
            return self.clone();
        }
        Self {
            drawing: simplify(&self.drawing),
            ..self.clone()
        }
    }

    /// One ndjson line (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Every `.ndjson` file under `paths`, sorted: files named directly are taken as they are,
/// directories are walked.
///
/// # Errors
/// When a named path does not exist or a directory cannot be read.
pub fn ndjson_files(paths: &[std::path::PathBuf]) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "ndjson") {
                        out.push(path);
                    }
                }
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", p.display()),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// The `key_id` an API-uploaded drawing gets in Quick, Draw! exports: the first 8 bytes
/// of sha256 of its UUID, top bit cleared. Distinct ids collide with probability ~2^-63 and
/// a client cannot pick an id that lands on a chosen `key_id`.
pub fn api_key_id(id: Uuid) -> u64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(id.as_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]) >> 1
}

/// Parses a Quick, Draw! timestamp (`2017-03-01 20:41:36.70725 UTC`) to microseconds since
/// the Unix epoch.
///
/// # Errors
/// A [`FieldError`] on `timestamp` when the string is not in that format.
pub fn parse_timestamp(ts: &str) -> Result<i64, FieldError> {
    use time::macros::format_description;
    let err = |why: String| FieldError::new("timestamp", "invalid", why);
    let body = ts
        .strip_suffix(" UTC")
        .ok_or_else(|| err("timestamp must end in \" UTC\"".into()))?;
    let parsed = if body.contains('.') {
        time::PrimitiveDateTime::parse(
            body,
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"),
        )
    } else {
        time::PrimitiveDateTime::parse(
            body,
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
    }
    .map_err(|e| {
        err(format!(
            "timestamp {ts:?} is not YYYY-MM-DD hh:mm:ss.ffffff UTC: {e}"
        ))
    })?;
    let micros = parsed.assume_utc().unix_timestamp_nanos() / 1_000;
    i64::try_from(micros).map_err(|_| err("timestamp out of range".into()))
}

/// Formats ms since the Unix epoch as a Quick, Draw! timestamp (`YYYY-MM-DD hh:mm:ss.ffffff UTC`).
pub fn format_timestamp_ms(ms: i64) -> String {
    use time::macros::format_description;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let body = t
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
        ))
        .unwrap_or_default();
    format!("{body} UTC")
}

/// Google's simplification: align to (0, 0), scale uniformly so the longer side is 255,
/// resample at 1 px spacing, Ramer–Douglas–Peucker with ε = 2.0, round to integers.
pub fn simplify(strokes: &[QdStroke]) -> Vec<QdStroke> {
    let all = || strokes.iter().flat_map(|s| s.x.iter().zip(&s.y));
    let (min_x, min_y) = all().fold((f64::INFINITY, f64::INFINITY), |(a, b), (x, y)| {
        (a.min(*x), b.min(*y))
    });
    let (max_x, max_y) = all().fold((f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b), (x, y)| {
        (a.max(*x), b.max(*y))
    });
    let extent = (max_x - min_x).max(max_y - min_y);
    // A (near) zero extent collapses to the origin instead of overflowing to inf/NaN.
    let scale = match 255.0 / extent {
        s if s.is_finite() && extent > 0.0 => s,
        _ => 0.0,
    };
    strokes
        .iter()
        .map(|s| {
            let pts: Vec<(f64, f64)> =
                s.x.iter()
                    .zip(&s.y)
                    .map(|(x, y)| ((x - min_x) * scale, (y - min_y) * scale))
                    .collect();
            let resampled = resample(&pts, 1.0);
            let kept = rdp(&resampled, 2.0);
            let mut out = QdStroke::default();
            for (x, y) in kept {
                out.x.push(x.round().clamp(0.0, 255.0));
                out.y.push(y.round().clamp(0.0, 255.0));
            }
            out
        })
        .collect()
}

fn resample(pts: &[(f64, f64)], spacing: f64) -> Vec<(f64, f64)> {
    let Some(&first) = pts.first() else {
        return Vec::new();
    };
    let mut out = vec![first];
    let mut prev = first;
    let mut carried = 0.0;
    for &p in &pts[1..] {
        let seg = ((p.0 - prev.0).powi(2) + (p.1 - prev.1).powi(2)).sqrt();
        let mut d = spacing - carried;
        while d <= seg {
            let f = d / seg;
            out.push((prev.0 + (p.0 - prev.0) * f, prev.1 + (p.1 - prev.1) * f));
            d += spacing;
        }
        carried = seg - (d - spacing);
        prev = p;
    }
    // The end point is always kept, even on top of the start (a dot stays two points, as
    // in Google's simplified files).
    if pts.len() > 1 {
        out.push(prev);
    }
    out
}

fn rdp(pts: &[(f64, f64)], epsilon: f64) -> Vec<(f64, f64)> {
    if pts.len() < 3 {
        return pts.to_vec();
    }
    let mut keep = vec![false; pts.len()];
    keep[0] = true;
    keep[pts.len() - 1] = true;
    let mut stack = vec![(0usize, pts.len() - 1)];
    while let Some((a, b)) = stack.pop() {
        let (ax, ay) = pts[a];
        let (bx, by) = pts[b];
        let len = ((bx - ax).powi(2) + (by - ay).powi(2)).sqrt();
        let mut best = (0.0, a);
        for (i, &(px, py)) in pts.iter().enumerate().take(b).skip(a + 1) {
            let d = if len > 0.0 {
                ((by - ay) * px - (bx - ax) * py + bx * ay - by * ax).abs() / len
            } else {
                ((px - ax).powi(2) + (py - ay).powi(2)).sqrt()
            };
            if d > best.0 {
                best = (d, i);
            }
        }
        if best.0 > epsilon {
            keep[best.1] = true;
            stack.push((a, best.1));
            stack.push((best.1, b));
        }
    }
    pts.iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

/// Writes an f64 as an integer when it is one (as the dataset does), else in its shortest
/// round-trip decimal form.
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < EXACT && !(v == 0.0 && v.is_sign_negative()) {
            #[allow(clippy::cast_possible_truncation)]
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

struct Nums<'a>(&'a [f64]);

impl Serialize for Nums<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&Num(*v))?;
        }
        seq.end()
    }
}

impl Serialize for QdStroke {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = if self.t.is_some() { 3 } else { 2 };
        let mut seq = s.serialize_seq(Some(n))?;
        seq.serialize_element(&Nums(&self.x))?;
        seq.serialize_element(&Nums(&self.y))?;
        if let Some(t) = &self.t {
            seq.serialize_element(t)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for QdStroke {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = QdStroke;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stroke [x[], y[]] or [x[], y[], t[]]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<QdStroke, A::Error> {
                let x: Vec<f64> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let y: Vec<f64> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let t: Option<Vec<i64>> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(QdStroke { x, y, t })
            }
        }
        d.deserialize_seq(V)
    }
}

mod key_id_string {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        let v: u64 = s
            .parse()
            .map_err(|_| de::Error::custom(format!("key_id {s:?} is not a 64-bit integer")))?;
        if v.to_string() != s {
            return Err(de::Error::custom(format!(
                "key_id {s:?} is not in canonical decimal form"
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let out = simplify(&[tiny]);
        assert!(out[0].x.iter().chain(&out[0].y).all(|v| v.is_finite()));
        let dot = QdStroke {
            x: vec![86.0, 86.0],
            y: vec![50.0, 50.0],
            t: None,
        };
        let wide = QdStroke {
            x: vec![0.0, 255.0],
            y: vec![0.0, 0.0],
            t: None,
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
        };
        let out = simplify(&[s]);
        assert_eq!(out[0].x.first(), Some(&0.0));
        assert_eq!(out[0].x.last(), Some(&255.0));
        // A straight line keeps only its end points.
        assert_eq!(out[0].x.len(), 2);
    }
}
