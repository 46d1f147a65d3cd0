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
    /// Which whole-number coordinates the line wrote as floats (`255.0` rather than `255`,
    /// as Python's `json.dumps` writes floats): index `i` for `x[i]`, `x.len() + i` for
    /// `y[i]`, ascending. Written back the same way, so such lines export byte for byte.
    pub float_form: Vec<u32>,
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
        let mut float_form = Vec::new();
        let mut offset = 0u32;
        for s in &self.drawing {
            float_form.extend(s.float_form.iter().map(|i| offset + i));
            offset += u32::try_from(2 * s.x.len()).unwrap_or(u32::MAX);
        }
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
                        ..Default::default()
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
                float_form: (!float_form.is_empty()).then_some(float_form),
            }),
            guess: None,
            dropped_samples: None,
        }
    }

    /// Builds the raw record of `drawing`.
    ///
    /// Imported drawings get back their `key_id`, metadata and exact x, y, t (and no
    /// timestamp if they had none). Drawings uploaded through the API get the `key_id` of
    /// [`api_key_id`], `t` relative to their earliest point (their first, unless the device
    /// clock stepped back between strokes), and `fallback_timestamp` (the
    /// server's receive time, in the dataset's format) as `timestamp`. Drawings without
    /// timing come out in the simplified shape `[x[], y[]]`.
    pub fn from_drawing(drawing: &Drawing, fallback_timestamp: Option<String>) -> Self {
        let imported = drawing.source.as_ref();
        // Relative to the earliest point, not the first: a device clock that stepped back
        // between strokes must not make a `t` negative (the format's `t` is never).
        let t0 = if imported.is_some() {
            0
        } else {
            drawing
                .strokes
                .iter()
                .flat_map(|s| &s.points)
                .filter_map(|p| p.timestamp)
                .min()
                .unwrap_or(0)
        };
        let mut float_form = imported
            .and_then(|s| s.float_form.as_deref())
            .unwrap_or_default()
            .iter()
            .copied()
            .peekable();
        let mut offset = 0u32;
        let strokes = drawing
            .strokes
            .iter()
            .map(|s| {
                let timed = s.points.iter().all(|p| p.timestamp.is_some());
                let n = u32::try_from(2 * s.points.len()).unwrap_or(u32::MAX);
                let mut mine = Vec::new();
                while let Some(i) = float_form.next_if(|i| *i < offset + n) {
                    if i >= offset {
                        mine.push(i - offset);
                    }
                }
                offset += n;
                QdStroke {
                    float_form: mine,
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

    /// Appends [`Self::to_line`]'s bytes and a newline to `out`, without an intermediate
    /// string (exports and training streams write millions of lines).
    pub fn write_line(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail, and every field serializes.
        let _ = serde_json::to_writer(&mut *out, self);
        out.push(b'\n');
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
///
/// Its cost is bounded for any input: a stroke longer than [`MAX_RESAMPLED`] px (after
/// scaling; real strokes are a few hundred) is resampled at the coarser spacing that gives
/// that many points, and Ramer–Douglas–Peucker stops refining after
/// [`RDP_WORK_PER_POINT`] distance evaluations per point, keeping every point of the ranges
/// it has not resolved. So a pathological stroke (a sawtooth of 10,000 teeth, whose
/// Ramer–Douglas–Peucker is quadratic) costs O(points) and keeps more points than
/// necessary, never fewer: every input point stays within ε of the output. Real drawings
/// never reach either bound (their simplification is Google's exactly).
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
            let length: f64 = pts
                .windows(2)
                .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
                .sum();
            #[allow(clippy::cast_precision_loss)]
            let spacing = (length / MAX_RESAMPLED as f64).max(1.0);
            let resampled = resample(&pts, spacing);
            let (kept, _) = rdp(&resampled, 2.0);
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

/// Most resampled points of one stroke in [`simplify`].
pub const MAX_RESAMPLED: usize = 100_000;
/// Distance evaluations per point after which [`simplify`]'s Ramer–Douglas–Peucker stops
/// refining (a balanced run needs about log2(points) per point: 17 at 100,000).
pub const RDP_WORK_PER_POINT: usize = 64;

/// Ramer–Douglas–Peucker with a work bound (see [`simplify`]); the kept points and the
/// distance evaluations spent.
fn rdp(pts: &[(f64, f64)], epsilon: f64) -> (Vec<(f64, f64)>, usize) {
    let (keep, work) = rdp_mask(pts.len(), |i| pts[i], epsilon, RDP_WORK_PER_POINT);
    let kept = pts
        .iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect();
    (kept, work)
}

/// Ramer–Douglas–Peucker over the `n` points `at(0..n)` (x, y): which to keep (the ends
/// always), and the distance evaluations spent. Iterative (an explicit stack), and bounded:
/// after `work_per_point * n` evaluations the ranges not yet resolved are kept whole, a
/// superset of what the unbounded algorithm keeps, so every point stays within `epsilon`
/// of the kept polyline either way. Shared by [`simplify`] and
/// [`crate::reduce::simplify`].
pub(crate) fn rdp_mask(
    n: usize,
    at: impl Fn(usize) -> (f64, f64),
    epsilon: f64,
    work_per_point: usize,
) -> (Vec<bool>, usize) {
    if n < 3 {
        return (vec![true; n], 0);
    }
    let mut budget = n.saturating_mul(work_per_point);
    let mut work = 0;
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut stack = vec![(0usize, n - 1)];
    while let Some((a, b)) = stack.pop() {
        let inner = b - a - 1;
        if inner > budget {
            // Out of work: keep the whole range (a superset of what RDP would keep).
            keep[a..=b].iter_mut().for_each(|k| *k = true);
            continue;
        }
        budget -= inner;
        work += inner;
        let (ax, ay) = at(a);
        let (bx, by) = at(b);
        let len = (bx - ax).hypot(by - ay);
        let mut best = (0.0, a);
        for i in a + 1..b {
            let (px, py) = at(i);
            let d = if len > 0.0 {
                ((by - ay) * px - (bx - ax) * py + bx * ay - by * ax).abs() / len
            } else {
                (px - ax).hypot(py - ay)
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
    (keep, work)
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

/// Numbers of one coordinate array; those at `floats` (indices shifted by `base`) are
/// whole numbers the source wrote as floats.
struct Nums<'a> {
    values: &'a [f64],
    floats: &'a [u32],
    base: usize,
}

impl Serialize for Nums<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.values.len()))?;
        let mut floats = self.floats.iter().peekable();
        for (i, v) in self.values.iter().enumerate() {
            let at = u32::try_from(self.base + i).unwrap_or(u32::MAX);
            while floats.next_if(|f| **f < at).is_some() {}
            if floats.next_if(|f| **f == at).is_some() && v.fract() == 0.0 {
                seq.serialize_element(v)?;
            } else {
                seq.serialize_element(&Num(*v))?;
            }
        }
        seq.end()
    }
}

/// One number as read, and whether it was a whole number written as a float (`255.0`).
struct FormNum(f64, bool);

impl<'de> Deserialize<'de> for FormNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FormNum;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FormNum, E> {
                Ok(FormNum(v as f64, false))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FormNum, E> {
                Ok(FormNum(v as f64, false))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FormNum, E> {
                Ok(FormNum(v, v.fract() == 0.0))
            }
        }
        d.deserialize_f64(V)
    }
}

impl Serialize for QdStroke {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = if self.t.is_some() { 3 } else { 2 };
        let mut seq = s.serialize_seq(Some(n))?;
        seq.serialize_element(&Nums {
            values: &self.x,
            floats: &self.float_form,
            base: 0,
        })?;
        seq.serialize_element(&Nums {
            values: &self.y,
            floats: &self.float_form,
            base: self.x.len(),
        })?;
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
                let x: Vec<FormNum> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let y: Vec<FormNum> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let t: Option<Vec<i64>> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                let float_form = x
                    .iter()
                    .chain(&y)
                    .enumerate()
                    .filter(|(_, n)| n.1)
                    .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                    .collect();
                Ok(QdStroke {
                    x: x.iter().map(|n| n.0).collect(),
                    y: y.iter().map(|n| n.0).collect(),
                    t,
                    float_form,
                })
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
mod tests;
