//! Validation of drawings, with errors that name the offending field.
//!
//! # Limits and where they come from
//!
//! The real drawings in the project's test data (6,502 Quick, Draw!, $1, Detexify and
//! Momocs drawings) have at most 15 strokes, 404 points in one stroke and 1,115 points in
//! one drawing (median 62, 99th percentile 176); the largest Quick, Draw! raw record is
//! 19.7 KB of ndjson, and the seed estimates 5–50 KB of JSON per drawing. The highest rate
//! sustained over one second in that data is 283 points/s (Quick, Draw!, 2017 devices).
//! Pens report up to 240 samples/s through `getCoalescedEvents()`, so a 20 s round drawn
//! without lifting the pen is 4,800 points; but USB mice poll at up to 1,000 Hz (8,000 Hz on
//! some gaming mice), so a 12 s mouse stroke can be 12,000 points. The defaults
//! ([`Limits::DEFAULT`]) leave room above real hands without letting one upload cost the
//! server more than a few milliseconds; a client reduces a drawing over them before upload
//! ([`crate::reduce::fit_to_limits`]: losslessly where it can, else by a sub-pixel
//! Ramer–Douglas–Peucker), so a player's drawing always reaches the dataset:
//!
//! | limit | default | why |
//! |---|---|---|
//! | strokes per drawing | 500 | 33x the data's maximum |
//! | points per stroke | 10,000 | 2x a 20 s pen stroke at 240 Hz |
//! | points per drawing | 20,000 | 18x the data's maximum, 4x a 20 s pen round |
//! | JSON body of one drawing | 2 MiB | 20,000 points at ~90 bytes each, 40x the seed's 50 KB |
//! | JSON body of a batch | 16 MiB, at most 500 drawings | an offline outbox of a long session |
//! | canvas side | 1..=16,384 CSS px | the largest canvas browsers allocate |
//! | coordinate margin | one canvas side beyond each edge | pointer capture keeps a stroke alive off-canvas |
//! | coordinates without a canvas (imports) | ±100,000 | Quick, Draw! raw spans −1,013..2,232 device px |
//! | tilt_x, tilt_y / twist / width, height (pen and touch) | -90..=90 deg / 0..360 deg / 0..=16,384 CSS px, on every point of a stroke or none | W3C Pointer Events ranges |
//! | pressure | finite, >= 0 | `PointerEvent.pressure` is nominally 0..=1, but Android devices report touch pressures above their advertised maximum (1.0875 seen): values above 1 are stored as reported and marked ([`Drawing::pressure_above_nominal`]); a negative pressure is no measurement |
//! | timestamps | 0..=2^53 ms, non-decreasing inside a stroke | JS `Date.now()` range |
//! | duration, prompt-to-first-point | at most 1 hour | a round lasts seconds |
//! | stroke width | (0, 256] CSS px | |
//! | device pixel ratio | (0, 16] | |
//! | `user_agent` | 512 bytes | longer strings are fingerprinting, not information |

use std::fmt;

use serde::Serialize;

use crate::drawing::{Canvas, Drawing, Stroke};

/// The limits a drawing must stay within. See the module docs for the reasoning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most strokes in one drawing.
    pub max_strokes: usize,
    /// Most points in one stroke.
    pub max_points_per_stroke: usize,
    /// Most points in one drawing.
    pub max_points: usize,
    /// Most bytes in the JSON body of a single-drawing upload.
    pub max_drawing_body_bytes: usize,
    /// Most bytes in the JSON body of a batch upload.
    pub max_batch_body_bytes: usize,
    /// Most drawings in one batch upload.
    pub max_batch_drawings: usize,
    /// Largest canvas side, CSS px.
    pub max_canvas_side: f64,
    /// Largest absolute coordinate of a drawing without a canvas (imports), px.
    pub max_abs_coordinate: f64,
    /// Longest `duration_ms` and `prompt_to_first_point_ms`.
    pub max_duration_ms: u64,
    /// Largest timestamp, ms (2^53, the largest integer a JS number holds exactly).
    pub max_timestamp_ms: i64,
    /// Widest stroke, CSS px.
    pub max_stroke_width: f64,
    /// Largest device pixel ratio.
    pub max_device_pixel_ratio: f64,
    /// Longest `user_agent`, bytes.
    pub max_user_agent_bytes: usize,
    /// Longest shape name, bytes.
    pub max_shape_name_bytes: usize,
}

impl Limits {
    /// The documented defaults.
    pub const DEFAULT: Self = Self {
        max_strokes: 500,
        max_points_per_stroke: 10_000,
        max_points: 20_000,
        max_drawing_body_bytes: 2 * 1024 * 1024,
        max_batch_body_bytes: 16 * 1024 * 1024,
        max_batch_drawings: 500,
        max_canvas_side: 16_384.0,
        max_abs_coordinate: 100_000.0,
        max_duration_ms: 3_600_000,
        max_timestamp_ms: 1 << 53,
        max_stroke_width: 256.0,
        max_device_pixel_ratio: 16.0,
        max_user_agent_bytes: 512,
        max_shape_name_bytes: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where a drawing comes from; player uploads must carry more than imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A player's upload through the API: canvas, device, colours, widths, timestamps
    /// and duration are required, `source` is forbidden.
    Api,
    /// An imported dataset record: `source` is required, the rest is optional.
    Import,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field, e.g. `strokes[3].points[17].x`; `body` for the body as a whole.
    pub field: String,
    /// Stable machine-readable code, e.g. `out_of_range`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// A body that is not valid JSON for the expected type.
pub type ParseError = FieldError;

/// Parses JSON into `T`, naming the field where parsing failed (`strokes[0].points[3].x`).
///
/// # Errors
/// A [`FieldError`] with code `invalid_json` (syntax, `NaN`, numbers out of f64 range such
/// as `1e309`) or `invalid_type` (a string where a number belongs, unknown fields, ...).
pub fn parse_json<'de, T: serde::Deserialize<'de>>(body: &'de [u8]) -> Result<T, ParseError> {
    // Fast path without path tracking; only a failure pays for finding the field.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let text = inner.to_string();
        // serde reports a missing field at its parent's path: name the field itself.
        let missing = text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned());
        let field = match (path.as_str(), missing) {
            ("." | "", Some(name)) => name,
            ("." | "", None) => "body".to_owned(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) if p.starts_with('[') => format!("body{p}"),
            (p, None) => p.to_owned(),
        };
        let code = if inner.is_data() {
            "invalid_type"
        } else {
            "invalid_json"
        };
        FieldError::new(field, code, text)
    })?;
    de.end()
        .map_err(|e| FieldError::new("body", "invalid_json", e.to_string()))?;
    Ok(value)
}

/// A dataset's `word` as Inkset matches and stores it: Unicode NFC (the composed form), no
/// whitespace around it, each inner run of whitespace one space, lower case. `"Circle"`,
/// `"circle "`, `"CIRCLE"` and `"circle"` are one word, and so are a composed and a
/// decomposed `"cœur"`. Quick, Draw!'s own words are lower case but for three ("The Eiffel
/// Tower", "The Great Wall of China", "The Mona Lisa", in its `categories.txt`); they are
/// stored in lower case.
pub fn normalize_word(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let composed: String = word.nfc().collect();
    composed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Checks a word (as [`normalize_word`] gives it) of an imported record: 1 to
/// `limits.max_shape_name_bytes` bytes of letters and digits of any script, spaces, `-`,
/// `_` and `'`. Quick, Draw!'s 345 words ("hot air balloon", "t-shirt") and the $1
/// gesture set's ("left_curly_brace") all pass; path
/// separators, commas, dots, quotes and control characters do not, so a word is safe as a
/// file name, an archive directory and a CSV cell.
///
/// # Errors
/// A [`FieldError`] on `word`: `missing` when empty, `too_long`, or `invalid_word` naming
/// the first character that is not allowed.
pub fn check_word(word: &str, limits: &Limits) -> Result<(), FieldError> {
    if word.is_empty() {
        return Err(FieldError::new("word", "missing", "word is empty"));
    }
    if word.len() > limits.max_shape_name_bytes {
        return Err(FieldError::new(
            "word",
            "too_long",
            format!("word is longer than {} bytes", limits.max_shape_name_bytes),
        ));
    }
    if let Some(c) = word
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '\'')))
    {
        return Err(FieldError::new(
            "word",
            "invalid_word",
            format!(
                "word {word:?} contains {c:?}: a word is letters, digits, spaces, '-', '_' and \"'\""
            ),
        ));
    }
    Ok(())
}

/// Checks `drawing` against `limits`.
///
/// `is_known_shape` answers whether a shape name is one the server collects.
///
/// # Errors
/// The first problem found, naming its field.
pub fn validate(
    drawing: &Drawing,
    origin: Origin,
    limits: &Limits,
    is_known_shape: impl Fn(&str) -> bool,
) -> Result<(), FieldError> {
    let api = origin == Origin::Api;
    if drawing.shape.is_empty() {
        return Err(FieldError::new(
            "shape",
            "required",
            "shape must not be empty",
        ));
    }
    if drawing.shape.len() > limits.max_shape_name_bytes {
        return Err(FieldError::new(
            "shape",
            "too_long",
            format!("shape is longer than {} bytes", limits.max_shape_name_bytes),
        ));
    }
    if !is_known_shape(&drawing.shape) {
        return Err(FieldError::new(
            "shape",
            "unknown_shape",
            format!("unknown shape {:?}", drawing.shape),
        ));
    }
    match (&drawing.source, origin) {
        (Some(_), Origin::Api) => {
            return Err(FieldError::new(
                "source",
                "forbidden",
                "source metadata is set by the importer only",
            ));
        }
        (None, Origin::Import) => {
            return Err(FieldError::new(
                "source",
                "required",
                "imported drawings carry source metadata",
            ));
        }
        _ => {}
    }
    if let Some(canvas) = drawing.canvas {
        for (name, side) in [
            ("canvas.width", canvas.width),
            ("canvas.height", canvas.height),
        ] {
            if !side.is_finite() || side < 1.0 || side > limits.max_canvas_side {
                return Err(FieldError::new(
                    name,
                    "out_of_range",
                    format!("{name} must be within 1..={}", limits.max_canvas_side),
                ));
            }
        }
    } else if api {
        return Err(required("canvas"));
    }
    if api {
        if drawing.device.is_none() {
            return Err(required("device"));
        }
        if drawing.duration_ms.is_none() {
            return Err(required("duration_ms"));
        }
    }
    for (name, value) in [
        ("duration_ms", drawing.duration_ms),
        ("prompt_to_first_point_ms", drawing.prompt_to_first_point_ms),
    ] {
        if value.is_some_and(|v| v > limits.max_duration_ms) {
            return Err(FieldError::new(
                name,
                "out_of_range",
                format!("{name} must be at most {} ms", limits.max_duration_ms),
            ));
        }
    }
    if let Some(ua) = &drawing.user_agent
        && ua.len() > limits.max_user_agent_bytes
    {
        return Err(FieldError::new(
            "user_agent",
            "too_long",
            format!(
                "user_agent is longer than {} bytes",
                limits.max_user_agent_bytes
            ),
        ));
    }
    if let Some(dpr) = drawing.device_pixel_ratio
        && (!dpr.is_finite() || dpr <= 0.0 || dpr > limits.max_device_pixel_ratio)
    {
        return Err(FieldError::new(
            "device_pixel_ratio",
            "out_of_range",
            format!(
                "device_pixel_ratio must be within (0, {}]",
                limits.max_device_pixel_ratio
            ),
        ));
    }
    if let Some(source) = &drawing.source
        && let Some(cc) = &source.countrycode
        && (cc.len() > 8 || !cc.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(FieldError::new(
            "source.countrycode",
            "invalid",
            "countrycode must be a short alphanumeric code (ISO 3166-1 alpha-2)",
        ));
    }
    if let Some(guess) = &drawing.guess {
        if !guess.confidence.is_finite() || !(0.0..=1.0).contains(&guess.confidence) {
            return Err(FieldError::new(
                "guess.confidence",
                "out_of_range",
                "guess.confidence must be a probability within 0..=1",
            ));
        }
        if guess
            .top
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > limits.max_shape_name_bytes)
        {
            return Err(FieldError::new(
                "guess.top",
                "invalid",
                format!(
                    "guess.top must be a class name of 1..={} bytes",
                    limits.max_shape_name_bytes
                ),
            ));
        }
    }
    if drawing
        .dropped_samples
        .is_some_and(|n| n as usize > limits.max_points)
    {
        return Err(FieldError::new(
            "dropped_samples",
            "out_of_range",
            format!("dropped_samples must be at most {}", limits.max_points),
        ));
    }
    validate_strokes(&drawing.strokes, drawing.canvas, api, limits)
}

/// Checks strokes alone (as `POST /api/inference/classify` receives them): counts, point
/// limits and coordinates within `canvas` (when given) and the coordinate limits.
/// `api` applies the stricter rules of player uploads (timestamps on every point or none).
///
/// # Errors
/// The first problem found, naming its field (`strokes[2].points[9].y`).
pub fn validate_strokes(
    strokes: &[Stroke],
    canvas: Option<Canvas>,
    api: bool,
    limits: &Limits,
) -> Result<(), FieldError> {
    if strokes.is_empty() {
        return Err(FieldError::new(
            "strokes",
            "empty",
            "a drawing needs at least one stroke",
        ));
    }
    if strokes.len() > limits.max_strokes {
        return Err(FieldError::new(
            "strokes",
            "too_many",
            format!("at most {} strokes per drawing", limits.max_strokes),
        ));
    }
    let mut total_points = 0usize;
    let drawing_has_time = strokes
        .first()
        .and_then(|s| s.points.first())
        .map(|p| p.timestamp.is_some());
    for (si, stroke) in strokes.iter().enumerate() {
        total_points += stroke.points.len();
        if total_points > limits.max_points {
            return Err(FieldError::new(
                "strokes",
                "too_many_points",
                format!("at most {} points per drawing", limits.max_points),
            ));
        }
        validate_stroke(canvas, si, stroke, api, limits, drawing_has_time)?;
    }
    Ok(())
}

fn required(field: &str) -> FieldError {
    FieldError::new(field, "required", format!("{field} is required"))
}

fn validate_stroke(
    canvas: Option<Canvas>,
    si: usize,
    stroke: &Stroke,
    api: bool,
    limits: &Limits,
    drawing_has_time: Option<bool>,
) -> Result<(), FieldError> {
    let at = |rest: &str| format!("strokes[{si}].{rest}");
    if stroke.points.is_empty() {
        return Err(FieldError::new(
            at("points"),
            "empty",
            "a stroke needs at least one point",
        ));
    }
    if stroke.points.len() > limits.max_points_per_stroke {
        return Err(FieldError::new(
            at("points"),
            "too_many",
            format!("at most {} points per stroke", limits.max_points_per_stroke),
        ));
    }
    match &stroke.color {
        Some(color) if !is_css_hex_color(color) => {
            return Err(FieldError::new(
                at("color"),
                "invalid",
                "color must be CSS hex: #rrggbb or #rrggbbaa",
            ));
        }
        None if api => return Err(required(&at("color"))),
        _ => {}
    }
    match stroke.width {
        Some(w) if !w.is_finite() || w <= 0.0 || w > limits.max_stroke_width => {
            return Err(FieldError::new(
                at("width"),
                "out_of_range",
                format!("width must be within (0, {}]", limits.max_stroke_width),
            ));
        }
        None if api => return Err(required(&at("width"))),
        _ => {}
    }
    if let Some(pt) = &stroke.pointer_type
        && (pt.is_empty() || pt.len() > 32)
    {
        return Err(FieldError::new(
            at("pointer_type"),
            "invalid",
            "pointer_type must be 1..=32 bytes",
        ));
    }
    let (lo_x, hi_x, lo_y, hi_y) = match canvas {
        Some(c) => {
            let margin = c.width.max(c.height);
            (-margin, c.width + margin, -margin, c.height + margin)
        }
        None => {
            let m = limits.max_abs_coordinate;
            (-m, m, -m, m)
        }
    };
    let has_pressure = stroke.points[0].pressure.is_some();
    let mut last_t: Option<i64> = None;
    for (pi, p) in stroke.points.iter().enumerate() {
        let field = |name: &str| format!("strokes[{si}].points[{pi}].{name}");
        for (name, v, lo, hi) in [("x", p.x, lo_x, hi_x), ("y", p.y, lo_y, hi_y)] {
            if !v.is_finite() {
                return Err(FieldError::new(
                    field(name),
                    "not_finite",
                    "must be a finite number",
                ));
            }
            if v < lo || v > hi {
                return Err(FieldError::new(
                    field(name),
                    "out_of_range",
                    format!("{name} = {v} is outside {lo}..={hi} (the canvas plus its margin)"),
                ));
            }
        }
        match p.pressure {
            Some(pr) if !pr.is_finite() || pr < 0.0 => {
                return Err(FieldError::new(
                    field("pressure"),
                    "out_of_range",
                    "pressure must be a finite number >= 0 (nominally 0..=1; higher values \
                     are kept as reported)",
                ));
            }
            _ => {}
        }
        if p.pressure.is_some() != has_pressure {
            return Err(FieldError::new(
                field("pressure"),
                "inconsistent",
                "pressure must be given on every point of a stroke or on none",
            ));
        }
        for ((name, v), first) in p.extras().into_iter().zip(stroke.points[0].extras()) {
            if v.is_some() != first.1.is_some() {
                return Err(FieldError::new(
                    field(name),
                    "inconsistent",
                    format!("{name} must be given on every point of a stroke or on none"),
                ));
            }
            let Some(v) = v else { continue };
            let (ok, range) = match name {
                "tilt_x" | "tilt_y" => ((-90.0..=90.0).contains(&v), "-90..=90 degrees"),
                "twist" => ((0.0..360.0).contains(&v), "0..360 degrees"),
                _ => (v >= 0.0 && v <= limits.max_canvas_side, "0..=16384 CSS px"),
            };
            if !v.is_finite() || !ok {
                return Err(FieldError::new(
                    field(name),
                    "out_of_range",
                    format!("{name} must be within {range}"),
                ));
            }
        }
        match p.timestamp {
            Some(t) => {
                if drawing_has_time == Some(false) {
                    return Err(FieldError::new(
                        field("timestamp"),
                        "inconsistent",
                        "timestamp must be given on every point or on none",
                    ));
                }
                if t < 0 || t > limits.max_timestamp_ms {
                    return Err(FieldError::new(
                        field("timestamp"),
                        "out_of_range",
                        format!(
                            "timestamp must be within 0..={} ms",
                            limits.max_timestamp_ms
                        ),
                    ));
                }
                if last_t.is_some_and(|prev| t < prev) {
                    return Err(FieldError::new(
                        field("timestamp"),
                        "decreasing",
                        "timestamps must not decrease inside a stroke",
                    ));
                }
                last_t = Some(t);
            }
            None if api => return Err(required(&field("timestamp"))),
            None if drawing_has_time == Some(true) => {
                return Err(FieldError::new(
                    field("timestamp"),
                    "inconsistent",
                    "timestamp must be given on every point or on none",
                ));
            }
            None => {}
        }
    }
    Ok(())
}

fn is_css_hex_color(s: &str) -> bool {
    let Some(hex) = s.strip_prefix('#') else {
        return false;
    };
    (hex.len() == 6 || hex.len() == 8) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
