//! Reading drawings back from their segments: the one place that turns a
//! [`RecordLocation`] into a [`Drawing`].
//!
//! A record is a frame of [`packed`] (a compression tag and the packed drawing, zstd or
//! not). One drawing is one ranged read ([`read_at`]); a page of drawings is one ranged
//! request per segment ([`read_many`]); a whole dataset in order reads each segment once
//! ([`SegmentCursor`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use inkset_protocol::{Drawing, packed};

use crate::drawings::sql::RecordLocation;
use crate::objects::Objects;

/// A stored drawing that cannot be read is the server's fault: a 500.
impl From<ReadError> for crate::error::ApiError {
    fn from(e: ReadError) -> Self {
        Self::Internal(e.into())
    }
}

/// Why a stored drawing could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The object store failed.
    #[error("reading segment {key}: {source}")]
    Storage {
        /// The segment's key.
        key: String,
        /// Why.
        #[source]
        source: crate::objects::ObjectsError,
    },
    /// The record lies outside its segment (the row and the object disagree).
    #[error("record at {offset}+{length} lies outside segment {key}")]
    OutOfBounds {
        /// The segment's key.
        key: String,
        /// Byte offset of the record.
        offset: u64,
        /// Length of the record.
        length: u64,
    },
    /// The record does not decode.
    #[error("decoding a record of segment {key}: {source}")]
    Decode {
        /// The segment's key.
        key: String,
        /// Why.
        #[source]
        source: anyhow::Error,
    },
}

/// Reads the drawing stored in a framed record.
///
/// # Errors
/// When the frame is malformed or its compression tag unknown.
pub fn decode_frame(frame: &[u8]) -> anyhow::Result<Drawing> {
    let (tag, bytes) = packed::unframe(frame)?;
    let drawing = match tag {
        packed::COMPRESSION_NONE => packed::decode(bytes)?,
        packed::COMPRESSION_ZSTD => packed::decode(&decompress(bytes)?)?,
        other => anyhow::bail!("unknown compression tag {other}"),
    };
    Ok(drawing)
}

/// Largest decompressed record read in one call with a reused context; a frame that
/// declares more (none does: ingest caps a drawing far below) or declares no size is
/// decompressed by the streaming decoder, which needs no size.
const MAX_BULK_RECORD: u64 = 64 << 20;

/// Decompresses a zstd record. Ingest's compressor writes the content size in each
/// frame, so one decompression context per thread does it in a single call: creating a
/// streaming decoder per record costs more than decompressing a small record.
fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static ZSTD: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
    }
    match zstd::zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(size)) if size <= MAX_BULK_RECORD => ZSTD.with(|z| {
            let capacity = usize::try_from(size).unwrap_or(0);
            match z.borrow_mut().as_mut() {
                Some(d) => d.decompress(bytes, capacity),
                None => zstd::bulk::decompress(bytes, capacity),
            }
        }),
        _ => zstd::stream::decode_all(bytes),
    }
}

/// The drawing at `loc`: one ranged read.
///
/// # Errors
/// [`ReadError`] when storage fails or the record does not decode.
pub async fn read_at(objects: &Objects, loc: &RecordLocation) -> Result<Drawing, ReadError> {
    let frame = objects
        .get_range(&loc.segment_key, loc.offset, loc.length)
        .await
        .map_err(|source| ReadError::Storage {
            key: loc.segment_key.clone(),
            source,
        })?;
    decode_frame(&frame).map_err(|source| ReadError::Decode {
        key: loc.segment_key.clone(),
        source,
    })
}

/// The drawings at `locs`, in their order: one ranged request per segment.
///
/// # Errors
/// [`ReadError`] at the first record that cannot be read.
pub async fn read_many(
    objects: &Objects,
    locs: &[&RecordLocation],
) -> Result<Vec<Drawing>, ReadError> {
    let mut by_segment: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, loc) in locs.iter().enumerate() {
        by_segment.entry(&loc.segment_key).or_default().push(i);
    }
    let mut fetched: Vec<(String, Vec<usize>, Vec<Bytes>)> = Vec::new();
    for (key, idx) in by_segment {
        let ranges: Vec<std::ops::Range<u64>> = idx
            .iter()
            .map(|&i| locs[i].offset..locs[i].offset + locs[i].length)
            .collect();
        let frames =
            objects
                .get_ranges(key, &ranges)
                .await
                .map_err(|source| ReadError::Storage {
                    key: key.to_owned(),
                    source,
                })?;
        fetched.push((key.to_owned(), idx, frames));
    }
    // Decompressing and decoding is CPU work: off the async workers.
    let n = locs.len();
    tokio::task::spawn_blocking(move || {
        let mut out: Vec<Option<Drawing>> = vec![None; n];
        for (key, idx, frames) in fetched {
            for (&i, frame) in idx.iter().zip(frames) {
                let drawing = decode_frame(&frame).map_err(|source| ReadError::Decode {
                    key: key.clone(),
                    source,
                })?;
                out[i] = Some(drawing);
            }
        }
        Ok(out.into_iter().flatten().collect())
    })
    .await
    .map_err(|e| ReadError::Decode {
        key: String::new(),
        source: anyhow::anyhow!("decoding task failed: {e}"),
    })?
}

/// Reads drawings in segment order, fetching each segment whole once and slicing its
/// records from memory (exports and training snapshots: sequential, one GET per segment).
#[derive(Debug, Default)]
pub struct SegmentCursor {
    current: Option<(String, Bytes)>,
}

impl SegmentCursor {
    /// A cursor holding no segment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The drawing at `loc`, fetching its segment when it is not the one held.
    ///
    /// # Errors
    /// [`ReadError`] when storage fails, the record lies outside its segment or does not
    /// decode.
    pub async fn read(
        &mut self,
        objects: &Objects,
        loc: &RecordLocation,
    ) -> Result<Drawing, ReadError> {
        if self
            .current
            .as_ref()
            .is_none_or(|(k, _)| *k != loc.segment_key)
        {
            let bytes =
                objects
                    .get(&loc.segment_key)
                    .await
                    .map_err(|source| ReadError::Storage {
                        key: loc.segment_key.clone(),
                        source,
                    })?;
            self.current = Some((loc.segment_key.clone(), bytes));
        }
        let out_of_bounds = || ReadError::OutOfBounds {
            key: loc.segment_key.clone(),
            offset: loc.offset,
            length: loc.length,
        };
        let Some((_, bytes)) = &self.current else {
            return Err(out_of_bounds());
        };
        let start = usize::try_from(loc.offset).map_err(|_| out_of_bounds())?;
        let end = start
            .checked_add(usize::try_from(loc.length).map_err(|_| out_of_bounds())?)
            .ok_or_else(out_of_bounds)?;
        let frame = bytes.get(start..end).ok_or_else(out_of_bounds)?;
        decode_frame(frame).map_err(|source| ReadError::Decode {
            key: loc.segment_key.clone(),
            source,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::drawings::ingest::encode_for_storage;
    use inkset_protocol::quickdraw::Record;

    /// Real drawings read back from their frames: ingest's (zstd with the content size in
    /// the frame, one reused context) and a streaming compressor's (no size: the fallback).
    #[test]
    fn frames_decode_to_the_stored_drawing() {
        let raw = inkset_testkit::shared_data().join("quickdraw/raw");
        let files = inkset_protocol::quickdraw::ndjson_files(&[raw]).unwrap();
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let mut compressed = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let drawing = Record::parse_line(line).unwrap().into_drawing();
            let stored = encode_for_storage(&drawing);
            let mut segment = Vec::new();
            let (start, len) = packed::push_framed(&mut segment, stored.tag, &stored.bytes);
            assert_eq!(decode_frame(&segment[start..start + len]).unwrap(), drawing);
            if stored.tag == packed::COMPRESSION_ZSTD {
                compressed += 1;
                let plain = packed::encode(&drawing);
                let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
                encoder.include_contentsize(false).unwrap();
                std::io::Write::write_all(&mut encoder, &plain).unwrap();
                let sizeless = encoder.finish().unwrap();
                assert_eq!(
                    zstd::zstd_safe::get_frame_content_size(&sizeless).ok(),
                    Some(None)
                );
                let mut segment = Vec::new();
                let (start, len) =
                    packed::push_framed(&mut segment, packed::COMPRESSION_ZSTD, &sizeless);
                assert_eq!(decode_frame(&segment[start..start + len]).unwrap(), drawing);
            }
        }
        assert!(compressed > 100, "only {compressed} compressed records");
    }
}
