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
        packed::COMPRESSION_ZSTD => {
            let raw = zstd::stream::decode_all(bytes)?;
            packed::decode(&raw)?
        }
        other => anyhow::bail!("unknown compression tag {other}"),
    };
    Ok(drawing)
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
