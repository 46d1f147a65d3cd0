//! The Apache Parquet export: one row per drawing, zstd-compressed row groups of
//! [`ROW_GROUP`] drawings, written through the `arrow` and `parquet` crates so pandas,
//! DuckDB, Polars and Hugging Face `datasets` read it without a custom loader.
//!
//! Columns (the Quick, Draw! raw export's fields, per the dataset's README, plus Inkset's):
//!
//! | column | type | |
//! |---|---|---|
//! | `id` | string | the drawing's UUID |
//! | `word` | string | the label: the prompted shape or distractor word |
//! | `key_id` | string | Quick, Draw! `key_id` (decimal; derived from the UUID for uploads) |
//! | `countrycode` | string, null | imports only |
//! | `timestamp` | string | Quick, Draw!'s `YYYY-MM-DD hh:mm:ss.ffffff UTC` |
//! | `recognized` | bool, null | Quick, Draw!'s own model's verdict (imports) |
//! | `source` | string, null | provenance of imported derived records |
//! | `received_at` | timestamp (ms, UTC) | when the server stored it |
//! | `strokes` | list of struct `{x: list<f64>, y: list<f64>, t: list<i64>}` | the raw export's strokes; `t` ms since the first point, null without timing |

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::{Compression, ZstdLevel};
use ::parquet::file::properties::WriterProperties;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    StructBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields};
use inkset_protocol::Drawing;
use inkset_protocol::quickdraw::{Record, format_timestamp_ms};
use uuid::Uuid;

/// Drawings per row group (and per in-memory batch).
pub const ROW_GROUP: usize = 8_192;

fn stroke_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::new_list(DataType::Float64, true), false),
        Field::new("y", DataType::new_list(DataType::Float64, true), false),
        Field::new("t", DataType::new_list(DataType::Int64, true), true),
    ])
}

/// Column builders of one batch.
struct Columns {
    id: StringBuilder,
    word: StringBuilder,
    key_id: StringBuilder,
    countrycode: StringBuilder,
    timestamp: StringBuilder,
    recognized: BooleanBuilder,
    source: StringBuilder,
    received_at: TimestampMillisecondBuilder,
    strokes: ListBuilder<StructBuilder>,
}

impl Columns {
    fn new() -> Self {
        let stroke = StructBuilder::new(
            stroke_fields(),
            vec![
                Box::new(ListBuilder::new(Float64Builder::new())) as Box<dyn ArrayBuilder>,
                Box::new(ListBuilder::new(Float64Builder::new())),
                Box::new(ListBuilder::new(Int64Builder::new())),
            ],
        );
        Self {
            id: StringBuilder::new(),
            word: StringBuilder::new(),
            key_id: StringBuilder::new(),
            countrycode: StringBuilder::new(),
            timestamp: StringBuilder::new(),
            recognized: BooleanBuilder::new(),
            source: StringBuilder::new(),
            received_at: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            strokes: ListBuilder::new(stroke),
        }
    }

    fn len(&self) -> usize {
        self.id.len()
    }

    fn push(&mut self, id: Uuid, received_at: i64, drawing: &Drawing) {
        let rec = Record::from_drawing(drawing, Some(format_timestamp_ms(received_at)));
        self.id.append_value(id.to_string());
        self.word.append_value(&rec.word);
        self.key_id.append_value(rec.key_id.to_string());
        self.countrycode.append_option(rec.countrycode.as_deref());
        self.timestamp.append_option(rec.timestamp.as_deref());
        self.recognized.append_option(rec.recognized);
        self.source.append_option(rec.source.as_deref());
        self.received_at.append_value(received_at);
        let strokes = self.strokes.values();
        for s in &rec.drawing {
            if let Some(x) = strokes.field_builder::<ListBuilder<Float64Builder>>(0) {
                x.values().append_slice(&s.x);
                x.append(true);
            }
            if let Some(y) = strokes.field_builder::<ListBuilder<Float64Builder>>(1) {
                y.values().append_slice(&s.y);
                y.append(true);
            }
            if let Some(t) = strokes.field_builder::<ListBuilder<Int64Builder>>(2) {
                match &s.t {
                    Some(times) => {
                        t.values().append_slice(times);
                        t.append(true);
                    }
                    None => t.append(false),
                }
            }
            strokes.append(true);
        }
        self.strokes.append(true);
    }

    fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let columns: Vec<(&str, ArrayRef, bool)> = vec![
            ("id", Arc::new(self.id.finish()), false),
            ("word", Arc::new(self.word.finish()), false),
            ("key_id", Arc::new(self.key_id.finish()), false),
            ("countrycode", Arc::new(self.countrycode.finish()), true),
            ("timestamp", Arc::new(self.timestamp.finish()), true),
            ("recognized", Arc::new(self.recognized.finish()), true),
            ("source", Arc::new(self.source.finish()), true),
            ("received_at", Arc::new(self.received_at.finish()), false),
            ("strokes", Arc::new(self.strokes.finish()), false),
        ];
        RecordBatch::try_from_iter_with_nullable(columns)
    }
}

/// Errors of the Parquet export.
#[derive(Debug, thiserror::Error)]
pub enum ParquetExportError {
    /// Building a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Writing the file.
    #[error("parquet: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
}

/// A Parquet file being written, a batch of up to [`ROW_GROUP`] drawings at a time.
pub struct ParquetSink {
    out: Option<BufWriter<File>>,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    columns: Columns,
}

impl ParquetSink {
    /// A sink writing to `out`.
    pub fn new(out: BufWriter<File>) -> Self {
        Self {
            out: Some(out),
            writer: None,
            columns: Columns::new(),
        }
    }

    fn flush(&mut self) -> Result<(), ParquetExportError> {
        let batch = self.columns.finish()?;
        if self.writer.is_none() {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
                .set_max_row_group_row_count(Some(ROW_GROUP))
                .set_created_by(concat!("inkset-server ", env!("CARGO_PKG_VERSION")).into())
                .build();
            let out = self
                .out
                .take()
                .ok_or_else(|| ::parquet::errors::ParquetError::General("no output".into()))?;
            self.writer = Some(ArrowWriter::try_new(out, batch.schema(), Some(props))?);
        }
        if batch.num_rows() > 0
            && let Some(w) = &mut self.writer
        {
            w.write(&batch)?;
        }
        Ok(())
    }

    /// Appends one drawing (received at `received_at`, ms since the Unix epoch).
    ///
    /// # Errors
    /// When a full batch cannot be written.
    pub fn push(
        &mut self,
        id: Uuid,
        received_at: i64,
        drawing: &Drawing,
    ) -> Result<(), ParquetExportError> {
        self.columns.push(id, received_at, drawing);
        if self.columns.len() >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the last batch and the footer.
    ///
    /// # Errors
    /// When writing fails.
    pub fn finish(mut self) -> Result<(), ParquetExportError> {
        self.flush()?;
        if let Some(w) = self.writer.take() {
            let mut out = w.into_inner()?;
            std::io::Write::flush(&mut out)
                .map_err(|e| ::parquet::errors::ParquetError::External(Box::new(e)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    #[test]
    fn rows_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("x.parquet");
        let file = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut sink = ParquetSink::new(BufWriter::new(file));
        let drawing: Drawing = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(),
            "shape": "line",
            "strokes": [
                {"points": [{"x": 1.0, "y": 2.0, "timestamp": 1000}, {"x": 3.0, "y": 4.0, "timestamp": 1016}]},
                {"points": [{"x": 5.0, "y": 6.0, "timestamp": 1100}]}
            ],
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            sink.push(Uuid::nil(), 1_700_000_000_000, &drawing)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        sink.finish().unwrap_or_else(|e| panic!("{e}"));
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            File::open(&path).unwrap_or_else(|e| panic!("{e}")),
        )
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("{e}"));
        let batches: Vec<RecordBatch> = reader
            .map(|b| b.unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 3);
        let b = &batches[0];
        let word = b
            .column_by_name("word")
            .map(|c| c.as_string::<i32>().value(0).to_owned());
        assert_eq!(word.as_deref(), Some("line"));
        let strokes = b
            .column_by_name("strokes")
            .map(|c| c.as_list::<i32>().value(0).len());
        assert_eq!(strokes, Some(2));
    }
}
