//! The drawing format of the API.
//!
//! One drawing is what a player drew for one prompt. As JSON (`POST /api/drawings`):
//!
//! ```json
//! {
//!   "id": "6f1c3f5e-3f1b-4f52-8d2a-4a8f2f0f7c11",
//!   "shape": "circle",
//!   "canvas": {"width": 800, "height": 600},
//!   "strokes": [
//!     {"points": [{"x": 12.5, "y": 40, "pressure": 0.5, "timestamp": 1732874400000}],
//!      "color": "#1d1d1f", "width": 4, "pointer_type": "pen"}
//!   ],
//!   "duration_ms": 1840,
//!   "device": "pen",
//!   "user_agent": "Mozilla/5.0 ...",
//!   "device_pixel_ratio": 2,
//!   "prompt_to_first_point_ms": 730,
//!   "session_id": "0d3a8c1e-3a1e-4f3c-9b8f-0d9e0d0e6b5a"
//! }
//! ```
//!
//! Coordinates are CSS pixels in canvas space (origin top-left, y down). `timestamp` is
//! client time in ms since the Unix epoch (the client's clock, not corrected). Fields the
//! seed format did not have are optional so older clients stay valid; [`crate::validate`]
//! says which ones a player upload must carry.
//!
//! Imported Quick, Draw! records become drawings too: they have no canvas, no device and no
//! pressure, their `timestamp`s are ms since the first point (as in the dataset), and
//! [`SourceMeta`] keeps their `key_id`, `recognized`, `countrycode` and `timestamp`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One drawing: a prompted shape and the strokes drawn for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Drawing {
    /// Client-generated UUID; uploads are idempotent by it.
    pub id: Uuid,
    /// The prompted shape's name (one of `GET /api/shapes`), e.g. `"circle"`.
    pub shape: String,
    /// Size of the drawing surface in CSS pixels. Absent only for imported drawings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canvas: Option<Canvas>,
    /// Strokes in the order they were drawn.
    pub strokes: Vec<Stroke>,
    /// Time from the first point to the last, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The input device the client believes was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// The client's `navigator.userAgent` (or the app's own identification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `window.devicePixelRatio` at capture time: device pixels per CSS pixel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_pixel_ratio: Option<f64>,
    /// Time from the prompt being shown to the first point, ms (client clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_to_first_point_ms: Option<u64>,
    /// The player session that drew it. The server fills it from the bearer token; a
    /// client that sends it must send its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// Where an imported drawing came from. Set by the importer only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceMeta>,
    /// The on-device recognizer's verdict at the end of the round, when the client ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guess: Option<Guess>,
    /// Pointer samples the client dropped because a coordinate, pressure or time was not a
    /// finite number (they are never stored); absent means the client did not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_samples: Option<u32>,
}

/// What the on-device recognizer made of a drawing (Inkset Draw's live guess).
///
/// Follows Quick, Draw!'s rule: a round is `recognized` when the prompted shape's
/// probability reached the game's threshold at some point after the first stroke, not
/// merely when it was the top class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guess {
    /// Whether the prompted shape was recognised.
    pub recognized: bool,
    /// The prompted shape's probability in 0..=1 at the verdict (the highest reached when
    /// recognised, the last one otherwise).
    pub confidence: f64,
    /// The class on top at the verdict (a shape name or `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<String>,
    /// The recognizer's registry version (`GET /api/inference/model/info`).
    pub model_version: u32,
}

/// The drawing surface, in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Canvas {
    /// Width in CSS pixels.
    pub width: f64,
    /// Height in CSS pixels.
    pub height: f64,
}

/// One stroke: the points between a pointer going down and coming up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stroke {
    /// Samples in the order the pointer produced them.
    pub points: Vec<Point>,
    /// Ink colour as CSS hex, `#rrggbb` or `#rrggbbaa`. Absent for imported drawings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Nominal ink width in CSS pixels. Absent for imported drawings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// `PointerEvent.pointerType` exactly as the webview reported it (`"mouse"`, `"pen"`,
    /// `"touch"`, or whatever else it said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer_type: Option<String>,
    /// `false` when the client knows the pressure values are not a measurement (a mouse,
    /// a webview that reports a constant 0.5, a pen that reports 0 on every point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure_measured: Option<bool>,
}

/// One pointer sample.
///
/// Beside position, pressure and time, a pen or touch screen reports its tilt, twist and
/// contact size (W3C Pointer Events: `tiltX`, `tiltY`, `twist`, `width`, `height`); they
/// are kept when sent, each on every point of a stroke or on none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Canvas x in CSS pixels (y down, origin top-left).
    pub x: f64,
    /// Canvas y in CSS pixels.
    pub y: f64,
    /// `PointerEvent.pressure` as reported: nominally 0..=1 (W3C Pointer Events), but
    /// some Android devices report more than 1 (1.0875 seen); any finite value >= 0 is
    /// kept exactly. Absent when nothing was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<f64>,
    /// Client time in ms since the Unix epoch; for imports, ms since the first point.
    /// Absent only for imports without timing (Quick, Draw! simplified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// `PointerEvent.tiltX`: the pen's tilt in the x-z plane, degrees in -90..=90 (0 =
    /// upright).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilt_x: Option<f64>,
    /// `PointerEvent.tiltY`: the pen's tilt in the y-z plane, degrees in -90..=90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilt_y: Option<f64>,
    /// `PointerEvent.twist`: the pen's rotation about its own axis, degrees in 0..360.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twist: Option<f64>,
    /// `PointerEvent.width`: the contact's width in CSS px (a finger's, or 1 where the
    /// device has no contact geometry). Not the ink width, which is [`Stroke::width`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// `PointerEvent.height`: the contact's height in CSS px.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<f64>,
}

impl Point {
    /// A point at `x`, `y` with nothing else reported.
    pub fn at(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            ..Self::default()
        }
    }

    /// The pointer channels beside position, pressure and time, by wire name, in the order
    /// the packed format stores them.
    pub fn extras(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("tilt_x", self.tilt_x),
            ("tilt_y", self.tilt_y),
            ("twist", self.twist),
            ("width", self.width),
            ("height", self.height),
        ]
    }

    /// Sets the `i`th channel of [`Self::extras`].
    pub fn set_extra(&mut self, i: usize, v: Option<f64>) {
        match i {
            0 => self.tilt_x = v,
            1 => self.tilt_y = v,
            2 => self.twist = v,
            3 => self.width = v,
            _ => self.height = v,
        }
    }
}

/// The input device class, as in the seed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// A mouse or trackpad.
    Mouse,
    /// A finger on a touch screen.
    Touch,
    /// A stylus.
    Pen,
}

impl Device {
    /// The wire name: `mouse`, `touch` or `pen`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mouse => "mouse",
            Self::Touch => "touch",
            Self::Pen => "pen",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mouse" => Some(Self::Mouse),
            "touch" => Some(Self::Touch),
            "pen" => Some(Self::Pen),
            _ => None,
        }
    }
}

/// Source metadata of an imported drawing (Quick, Draw! fields, per the dataset's README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceMeta {
    /// Quick, Draw! `key_id`: a 64-bit integer (written as a string in ndjson).
    pub key_id: u64,
    /// Whether Quick, Draw!'s own model recognised the drawing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognized: Option<bool>,
    /// ISO 3166-1 alpha-2 country of the player, as given by the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countrycode: Option<String>,
    /// The dataset's timestamp string, kept verbatim (`YYYY-MM-DD hh:mm:ss.ffffff UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Free-form provenance of derived sets (e.g. `detexify/heart/...#1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The coordinates the source line wrote as floats although whole (`255.0`, as Python's
    /// `json.dumps` writes them), so an export writes them the same way: indices over the
    /// strokes in order, each stroke taking `2 * points` (its x values, then its y values),
    /// ascending. Absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float_form: Option<Vec<u32>>,
}

impl Drawing {
    /// Number of points over all strokes.
    pub fn point_count(&self) -> usize {
        self.strokes.iter().map(|s| s.points.len()).sum()
    }

    /// Whether a point reports a pressure above the nominal maximum of 1 (kept as reported;
    /// see [`Point::pressure`]).
    pub fn pressure_above_nominal(&self) -> bool {
        self.strokes
            .iter()
            .flat_map(|s| &s.points)
            .any(|p| p.pressure.is_some_and(|pr| pr > 1.0))
    }

    /// The first point's timestamp, if the drawing has timing.
    pub fn first_timestamp(&self) -> Option<i64> {
        self.strokes
            .iter()
            .flat_map(|s| s.points.first())
            .find_map(|p| p.timestamp)
    }
}
