//! The compact, lossless binary form of a [`Drawing`], used at rest and for streaming.
//!
//! # Record layout (version 1)
//!
//! Integers are LEB128 varints (signed ones zigzag-encoded first); strings are a varint
//! length and UTF-8 bytes; `f64` fields without a channel are 8 bytes little-endian.
//!
//! ```text
//! u8 version = 1
//! [16] id
//! str shape
//! varint presence bits (canvas, duration, device, user_agent, dpr, prompt, session, source,
//!        guess, dropped_samples)
//! ... present scalar fields, in that order (source: varint key_id, varint bits recognized /
//!     its value / countrycode / timestamp / origin / float_form, the present strings, then
//!     float_form as a varint count and ascending varint deltas; guess: varint
//!     model_version, f64 confidence, u8 bits recognized/has-top, optional str top)
//! u8 xy_codec, u8 pressure_codec, u8 time_codec
//! varint n_strokes
//! per stroke: varint n_points, varint stroke bits (pressure, time, color, width, pointer
//!             type, pressure_measured, its value, then tilt_x, tilt_y, twist, contact
//!             width, contact height), optional color/width/pointer_type,
//!             then the x, y, t and pressure channels of its points, then each present
//!             pen/touch channel as a u8 codec tag and its values (codec chosen per stroke)
//! ```
//!
//! Each numeric channel (x and y share one codec, t and pressure have their own) picks the
//! cheapest exact codec for the whole drawing: integers as zigzag deltas; decimals with
//! k <= 6 digits as scaled-integer deltas; `f32`-representable values and finally any `f64`
//! as the XOR of consecutive bit patterns. Every choice is checked by decoding, so any
//! finite `f64` (and `-0.0`) round-trips bit for bit. Deltas run across strokes.
//!
//! # Segments
//!
//! A segment is many records in one object: the 8-byte magic `INKSEG01`, then per record a
//! `u32` little-endian length, a `u8` compression tag (0 = none, 1 = zstd, applied by the
//! writer when it pays off) and the bytes. Segments are immutable; a row in SQL points at
//! `(segment, offset, length)` of each record so one drawing is one range read, and training
//! reads whole segments sequentially.

use uuid::Uuid;

use crate::drawing::{Canvas, Device, Drawing, Guess, Point, SourceMeta, Stroke};

/// First bytes of every segment object.
pub const SEGMENT_MAGIC: &[u8; 8] = b"INKSEG01";
/// Compression tag: stored as is.
pub const COMPRESSION_NONE: u8 = 0;
/// Compression tag: zstd frame.
pub const COMPRESSION_ZSTD: u8 = 1;

const VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end early.
    #[error("record truncated")]
    Truncated,
    /// A version this build does not know.
    #[error("unsupported record version {0}")]
    Version(u8),
    /// A malformed field.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Int,
    Decimal(u8),
    F32,
    F64,
}

impl Codec {
    fn tag(self) -> u8 {
        match self {
            Self::Int => 0,
            Self::Decimal(k) => k,
            Self::F32 => 7,
            Self::F64 => 8,
        }
    }

    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Ok(match tag {
            0 => Self::Int,
            1..=6 => Self::Decimal(tag),
            7 => Self::F32,
            8 => Self::F64,
            _ => return Err(DecodeError::Malformed("codec")),
        })
    }

    fn scale(k: u8) -> f64 {
        10f64.powi(i32::from(k))
    }

    /// The integer this codec stores for `v`, if it stores it exactly.
    fn to_word(self, v: f64) -> Option<u64> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        match self {
            Self::Int | Self::Decimal(_) => {
                let scaled = match self {
                    Self::Decimal(k) => (v * Self::scale(k)).round(),
                    _ => v,
                };
                if scaled.is_nan() || scaled.abs() >= EXACT {
                    return None;
                }
                #[allow(clippy::cast_possible_truncation)]
                let i = scaled as i64;
                (self.word_value(i as u64).to_bits() == v.to_bits()).then_some(i as u64)
            }
            #[allow(clippy::cast_possible_truncation)]
            Self::F32 => {
                let f = v as f32;
                (f64::from(f).to_bits() == v.to_bits()).then_some(u64::from(f.to_bits()))
            }
            Self::F64 => Some(v.to_bits()),
        }
    }

    fn word_value(self, w: u64) -> f64 {
        match self {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
            Self::Int => w as i64 as f64,
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
            Self::Decimal(k) => (w as i64 as f64) / Self::scale(k),
            #[allow(clippy::cast_possible_truncation)]
            Self::F32 => f64::from(f32::from_bits(w as u32)),
            Self::F64 => f64::from_bits(w),
        }
    }

    fn is_xor(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// The cheapest codec that stores every value exactly.
    fn choose(values: impl Iterator<Item = f64> + Clone) -> Self {
        let candidates = [
            Self::Int,
            Self::Decimal(1),
            Self::Decimal(2),
            Self::Decimal(3),
            Self::Decimal(4),
            Self::Decimal(5),
            Self::Decimal(6),
            Self::F32,
        ];
        for c in candidates {
            if values.clone().all(|v| c.to_word(v).is_some()) {
                return c;
            }
        }
        Self::F64
    }
}

/// A running delta (or XOR) encoder for one channel.
struct Channel {
    codec: Codec,
    prev: u64,
}

impl Channel {
    fn new(codec: Codec) -> Self {
        Self { codec, prev: 0 }
    }

    fn put(&mut self, out: &mut Vec<u8>, v: f64) {
        let w = self.codec.to_word(v).unwrap_or(0);
        if self.codec.is_xor() {
            put_varint(out, w ^ self.prev);
        } else {
            #[allow(clippy::cast_possible_wrap)]
            put_signed(out, (w as i64).wrapping_sub(self.prev as i64));
        }
        self.prev = w;
    }

    fn get(&mut self, r: &mut Reader<'_>) -> Result<f64, DecodeError> {
        let w = if self.codec.is_xor() {
            r.varint()? ^ self.prev
        } else {
            #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
            {
                (self.prev as i64).wrapping_add(r.signed()?) as u64
            }
        };
        self.prev = w;
        finite(self.codec.word_value(w))
    }
}

/// Every number of a drawing is finite (validation refuses the rest), so a stored one that
/// is not was damaged or forged: refused, never passed on (`NaN` would become JSON `null`
/// in an export, or poison a raster).
fn finite(v: f64) -> Result<f64, DecodeError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(DecodeError::Malformed("non-finite number"))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)]
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

#[allow(clippy::cast_sign_loss)]
fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Malformed("varint"))
    }

    #[allow(clippy::cast_possible_wrap)]
    fn signed(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| DecodeError::Malformed("length"))?;
        if n > self.buf.len().saturating_mul(8) + 8 {
            return Err(DecodeError::Malformed("length"));
        }
        Ok(n)
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.len()?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Malformed("utf-8"))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        finite(f64::from_le_bytes(a))
    }

    fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        let b = self.bytes(16)?;
        Uuid::from_slice(b).map_err(|_| DecodeError::Malformed("uuid"))
    }
}

/// Encodes `drawing` (already validated: finite numbers) into a record. Deterministic: the
/// same drawing always gives the same bytes, so a hash of the record identifies content.
pub fn encode(drawing: &Drawing) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + drawing.point_count() * 4);
    out.push(VERSION);
    out.extend_from_slice(drawing.id.as_bytes());
    put_str(&mut out, &drawing.shape);
    let present = [
        drawing.canvas.is_some(),
        drawing.duration_ms.is_some(),
        drawing.device.is_some(),
        drawing.user_agent.is_some(),
        drawing.device_pixel_ratio.is_some(),
        drawing.prompt_to_first_point_ms.is_some(),
        drawing.session_id.is_some(),
        drawing.source.is_some(),
        drawing.guess.is_some(),
        drawing.dropped_samples.is_some(),
    ];
    put_varint(&mut out, bits(&present));
    if let Some(c) = drawing.canvas {
        out.extend_from_slice(&c.width.to_le_bytes());
        out.extend_from_slice(&c.height.to_le_bytes());
    }
    if let Some(d) = drawing.duration_ms {
        put_varint(&mut out, d);
    }
    if let Some(d) = drawing.device {
        out.push(match d {
            Device::Mouse => 0,
            Device::Touch => 1,
            Device::Pen => 2,
        });
    }
    if let Some(ua) = &drawing.user_agent {
        put_str(&mut out, ua);
    }
    if let Some(dpr) = drawing.device_pixel_ratio {
        out.extend_from_slice(&dpr.to_le_bytes());
    }
    if let Some(p) = drawing.prompt_to_first_point_ms {
        put_varint(&mut out, p);
    }
    if let Some(s) = drawing.session_id {
        out.extend_from_slice(s.as_bytes());
    }
    if let Some(src) = &drawing.source {
        put_varint(&mut out, src.key_id);
        let sp = [
            src.recognized.is_some(),
            src.recognized == Some(true),
            src.countrycode.is_some(),
            src.timestamp.is_some(),
            src.origin.is_some(),
            src.float_form.is_some(),
        ];
        put_varint(&mut out, bits(&sp));
        for s in [&src.countrycode, &src.timestamp, &src.origin]
            .into_iter()
            .flatten()
        {
            put_str(&mut out, s);
        }
        if let Some(ff) = &src.float_form {
            // Count, then ascending indices as deltas.
            put_varint(&mut out, ff.len() as u64);
            let mut last = 0u32;
            for &i in ff {
                put_varint(&mut out, u64::from(i.wrapping_sub(last)));
                last = i;
            }
        }
    }
    if let Some(g) = &drawing.guess {
        put_varint(&mut out, u64::from(g.model_version));
        out.extend_from_slice(&g.confidence.to_le_bytes());
        out.push(u8::from(g.recognized) | (u8::from(g.top.is_some()) << 1));
        if let Some(top) = &g.top {
            put_str(&mut out, top);
        }
    }
    if let Some(n) = drawing.dropped_samples {
        put_varint(&mut out, u64::from(n));
    }

    let points = || drawing.strokes.iter().flat_map(|s| s.points.iter());
    let xy = Codec::choose(points().flat_map(|p| [p.x, p.y]));
    let pressure = Codec::choose(points().filter_map(|p| p.pressure));
    // Timestamps are integers: always zigzag deltas (tag 0), kept as i64 end to end.
    out.extend_from_slice(&[xy.tag(), pressure.tag(), Codec::Int.tag()]);
    put_varint(&mut out, drawing.strokes.len() as u64);
    let (mut cx, mut cy) = (Channel::new(xy), Channel::new(xy));
    let mut prev_t = 0i64;
    let mut cp = Channel::new(pressure);
    for s in &drawing.strokes {
        put_varint(&mut out, s.points.len() as u64);
        let has_pressure = s.points.iter().all(|p| p.pressure.is_some());
        let has_time = s.points.iter().all(|p| p.timestamp.is_some());
        let has_extra: [bool; 5] = std::array::from_fn(|i| {
            !s.points.is_empty() && s.points.iter().all(|p| p.extras()[i].1.is_some())
        });
        let sb = [
            has_pressure,
            has_time,
            s.color.is_some(),
            s.width.is_some(),
            s.pointer_type.is_some(),
            s.pressure_measured.is_some(),
            s.pressure_measured == Some(true),
            has_extra[0],
            has_extra[1],
            has_extra[2],
            has_extra[3],
            has_extra[4],
        ];
        put_varint(&mut out, bits(&sb));
        if let Some(c) = &s.color {
            put_str(&mut out, c);
        }
        if let Some(w) = s.width {
            out.extend_from_slice(&w.to_le_bytes());
        }
        if let Some(pt) = &s.pointer_type {
            put_str(&mut out, pt);
        }
        for p in &s.points {
            cx.put(&mut out, p.x);
        }
        for p in &s.points {
            cy.put(&mut out, p.y);
        }
        if has_time {
            for p in &s.points {
                let t = p.timestamp.unwrap_or(0);
                put_signed(&mut out, t.wrapping_sub(prev_t));
                prev_t = t;
            }
        }
        if has_pressure {
            for p in &s.points {
                cp.put(&mut out, p.pressure.unwrap_or(0.0));
            }
        }
        // Pen and touch channels: each with its own codec, chosen over this stroke.
        for (i, _) in has_extra.iter().enumerate().filter(|(_, h)| **h) {
            let values = || s.points.iter().map(|p| p.extras()[i].1.unwrap_or(0.0));
            let codec = Codec::choose(values());
            out.push(codec.tag());
            let mut ch = Channel::new(codec);
            for v in values() {
                ch.put(&mut out, v);
            }
        }
    }
    out
}

fn bits(flags: &[bool]) -> u64 {
    flags
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &f)| acc | (u64::from(f) << i))
}

fn bit(v: u64, i: u32) -> bool {
    v >> i & 1 == 1
}

/// Decodes a record made by [`encode`].
///
/// # Errors
/// [`DecodeError`] when the bytes are not a record of a known version.
pub fn decode(bytes: &[u8]) -> Result<Drawing, DecodeError> {
    let mut r = Reader { buf: bytes };
    let version = r.byte()?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let id = r.uuid()?;
    let shape = r.str()?;
    let present = r.varint()?;
    let canvas = if bit(present, 0) {
        Some(Canvas {
            width: r.f64()?,
            height: r.f64()?,
        })
    } else {
        None
    };
    let duration_ms = bit(present, 1).then(|| r.varint()).transpose()?;
    let device = if bit(present, 2) {
        Some(match r.byte()? {
            0 => Device::Mouse,
            1 => Device::Touch,
            2 => Device::Pen,
            _ => return Err(DecodeError::Malformed("device")),
        })
    } else {
        None
    };
    let user_agent = bit(present, 3).then(|| r.str()).transpose()?;
    let device_pixel_ratio = bit(present, 4).then(|| r.f64()).transpose()?;
    let prompt_to_first_point_ms = bit(present, 5).then(|| r.varint()).transpose()?;
    let session_id = bit(present, 6).then(|| r.uuid()).transpose()?;
    let source = if bit(present, 7) {
        let key_id = r.varint()?;
        let sp = r.varint()?;
        Some(SourceMeta {
            key_id,
            recognized: bit(sp, 0).then_some(bit(sp, 1)),
            countrycode: bit(sp, 2).then(|| r.str()).transpose()?,
            timestamp: bit(sp, 3).then(|| r.str()).transpose()?,
            origin: bit(sp, 4).then(|| r.str()).transpose()?,
            float_form: if bit(sp, 5) {
                let n = r.varint()?;
                let mut out = Vec::new();
                let mut last = 0u32;
                for _ in 0..n {
                    let delta = u32::try_from(r.varint()?)
                        .map_err(|_| DecodeError::Malformed("float_form"))?;
                    last = last.wrapping_add(delta);
                    out.push(last);
                }
                Some(out)
            } else {
                None
            },
        })
    } else {
        None
    };
    let guess = if bit(present, 8) {
        let model_version =
            u32::try_from(r.varint()?).map_err(|_| DecodeError::Malformed("model_version"))?;
        let confidence = r.f64()?;
        let gb = r.byte()?;
        Some(Guess {
            recognized: gb & 1 != 0,
            confidence,
            top: (gb & 2 != 0).then(|| r.str()).transpose()?,
            model_version,
        })
    } else {
        None
    };
    let dropped_samples = bit(present, 9)
        .then(|| r.varint())
        .transpose()?
        .map(|n| u32::try_from(n).map_err(|_| DecodeError::Malformed("dropped_samples")))
        .transpose()?;
    let xy = Codec::from_tag(r.byte()?)?;
    let pressure = Codec::from_tag(r.byte()?)?;
    let _time = Codec::from_tag(r.byte()?)?;
    let n_strokes = r.len()?;
    let (mut cx, mut cy) = (Channel::new(xy), Channel::new(xy));
    let mut prev_t = 0i64;
    let mut cp = Channel::new(pressure);
    let mut strokes = Vec::with_capacity(n_strokes);
    for _ in 0..n_strokes {
        let n = r.len()?;
        let sb = r.varint()?;
        let color = bit(sb, 2).then(|| r.str()).transpose()?;
        let width = bit(sb, 3).then(|| r.f64()).transpose()?;
        let pointer_type = bit(sb, 4).then(|| r.str()).transpose()?;
        let pressure_measured = bit(sb, 5).then_some(bit(sb, 6));
        let mut points = vec![
            Point {
                x: 0.0,
                y: 0.0,
                pressure: None,
                timestamp: None,
                ..Default::default()
            };
            n
        ];
        for p in &mut points {
            p.x = cx.get(&mut r)?;
        }
        for p in &mut points {
            p.y = cy.get(&mut r)?;
        }
        if bit(sb, 1) {
            for p in &mut points {
                prev_t = prev_t.wrapping_add(r.signed()?);
                p.timestamp = Some(prev_t);
            }
        }
        if bit(sb, 0) {
            for p in &mut points {
                p.pressure = Some(cp.get(&mut r)?);
            }
        }
        for i in 0..5 {
            if bit(sb, 7 + i) {
                let mut ch = Channel::new(Codec::from_tag(r.byte()?)?);
                for p in &mut points {
                    p.set_extra(i as usize, Some(ch.get(&mut r)?));
                }
            }
        }
        strokes.push(Stroke {
            points,
            color,
            width,
            pointer_type,
            pressure_measured,
        });
    }
    if !r.buf.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes"));
    }
    Ok(Drawing {
        id,
        shape,
        canvas,
        strokes,
        duration_ms,
        device,
        user_agent,
        device_pixel_ratio,
        prompt_to_first_point_ms,
        session_id,
        source,
        guess,
        dropped_samples,
    })
}

/// One record of a segment: where its frame starts, its compression tag, its bytes.
pub type SegmentEntry<'a> = (usize, u8, &'a [u8]);

/// Iterates over the records of a segment: `(offset, compression tag, bytes)` where
/// `offset` is where the record's length prefix starts.
///
/// # Errors
/// [`DecodeError`] when the magic is wrong or a record runs past the end.
pub fn segment_records(
    segment: &[u8],
) -> Result<impl Iterator<Item = Result<SegmentEntry<'_>, DecodeError>>, DecodeError> {
    let body = segment
        .strip_prefix(SEGMENT_MAGIC.as_slice())
        .ok_or(DecodeError::Malformed("segment magic"))?;
    let mut pos = 0usize;
    Ok(std::iter::from_fn(move || {
        if pos >= body.len() {
            return None;
        }
        let start = pos;
        let head = body.get(pos..pos + 5)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let tag = head[4];
        let Some(bytes) = body.get(pos + 5..pos + 5 + len) else {
            pos = body.len();
            return Some(Err(DecodeError::Truncated));
        };
        pos += 5 + len;
        Some(Ok((start + SEGMENT_MAGIC.len(), tag, bytes)))
    }))
}

/// Appends one record to a segment being built, with its length prefix and tag. Returns
/// the `(offset, length)` to store in SQL: the whole framed entry.
pub fn push_framed(segment: &mut Vec<u8>, tag: u8, bytes: &[u8]) -> (usize, usize) {
    if segment.is_empty() {
        segment.extend_from_slice(SEGMENT_MAGIC);
    }
    let start = segment.len();
    #[allow(clippy::cast_possible_truncation)]
    segment.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    segment.push(tag);
    segment.extend_from_slice(bytes);
    (start, segment.len() - start)
}

/// Splits one framed entry (as returned by a range read of `(offset, length)`) into its
/// compression tag and bytes.
///
/// # Errors
/// [`DecodeError::Truncated`] when the frame is shorter than its prefix says.
pub fn unframe(frame: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let head = frame.get(..5).ok_or(DecodeError::Truncated)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let bytes = frame.get(5..5 + len).ok_or(DecodeError::Truncated)?;
    Ok((head[4], bytes))
}

#[cfg(test)]
mod tests;
