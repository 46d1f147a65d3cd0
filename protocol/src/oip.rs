//! Open Inference Protocol v2 `infer` requests, as KServe specifies them and Triton
//! implements them (<https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/>),
//! with Triton's binary tensor extension (a JSON header whose length is given by the
//! `Inference-Header-Content-Length` HTTP header, then each binary tensor's raw bytes).
//!
//! [`parse_infer`] reads a request for a single-input image model (`raster`, FP32,
//! `[batch, 1, N, N]`): the JSON header is parsed with the tensor data left as unparsed
//! text, the declared name, datatype, shape and batch are checked first, and only then are
//! the values read, straight into `f32`, refused as soon as there are more than declared.

use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The header naming the JSON header's length in a binary tensor request or answer.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// A refused request: the message says what was expected (answered as 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InferError(pub String);

fn bad(message: impl Into<String>) -> InferError {
    InferError(message.into())
}

/// A checked `infer` request.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    /// The request's `id`, echoed in the answer.
    pub id: Option<String>,
    /// Rasters in the batch.
    pub batch: usize,
    /// The rasters: `[batch, 1, N, N]` row-major f32, every value finite.
    pub values: Vec<f32>,
    /// Whether the answer's tensors go as binary data (`parameters.binary_data_output`, or
    /// `binary_data` of the requested output).
    pub binary_output: bool,
}

/// The JSON header of an infer request, tensor data left unparsed.
#[derive(Deserialize)]
struct InferHeader<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<RequestParameters>,
    #[serde(borrow)]
    inputs: Vec<InputHeader<'a>>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize, Default)]
struct RequestParameters {
    #[serde(default)]
    binary_data_output: Option<bool>,
}

#[derive(Deserialize)]
struct InputHeader<'a> {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<TensorParameters>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct TensorParameters {
    #[serde(default)]
    binary_data_size: Option<u64>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<OutputParameters>,
}

#[derive(Deserialize, Default)]
struct OutputParameters {
    #[serde(default)]
    binary_data: Option<bool>,
    #[serde(default)]
    classification: Option<u64>,
}

/// Parses and checks an `infer` body for an input `raster` of FP32 `[batch, 1, side, side]`
/// with `batch` in `1..=max_batch` and a single output `probabilities`. `header_len` is the
/// `Inference-Header-Content-Length` value when the request has one: the JSON header is
/// then the body's first `header_len` bytes and binary tensor data follows.
///
/// # Errors
/// [`InferError`] naming the first thing that does not match: JSON syntax, the number of
/// inputs, the name, the datatype, the shape, an unknown or unsupported output, data
/// missing or given twice, a value count or binary size that does not match the shape, a
/// value that is not a finite FP32.
pub fn parse_infer(
    body: &[u8],
    header_len: Option<usize>,
    side: usize,
    max_batch: usize,
) -> Result<InferRequest, InferError> {
    if let Some(len) = header_len
        && len > body.len()
    {
        return Err(bad(format!(
            "{HEADER_LENGTH} is {len} but the body has {} bytes",
            body.len()
        )));
    }
    let (json, binary) = body.split_at(header_len.unwrap_or(body.len()));
    let req: InferHeader<'_> =
        serde_json::from_slice(json).map_err(|e| bad(format!("invalid request: {e}")))?;
    let expected = format!("[batch, 1, {side}, {side}]");
    let [input] = req.inputs.as_slice() else {
        return Err(bad(format!(
            "expected exactly 1 input (\"raster\", FP32, {expected}), got {}",
            req.inputs.len()
        )));
    };
    if input.name != "raster" {
        return Err(bad(format!(
            "unexpected input {:?}; expected \"raster\"",
            input.name
        )));
    }
    if input.datatype != "FP32" {
        return Err(bad(format!(
            "input \"raster\" has datatype {:?}; expected \"FP32\"",
            input.datatype
        )));
    }
    let n = i64::try_from(side).unwrap_or(-1);
    let max = i64::try_from(max_batch).unwrap_or(i64::MAX);
    let shape_ok = input.shape.len() == 4
        && (1..=max).contains(&input.shape[0])
        && input.shape[1] == 1
        && input.shape[2] == n
        && input.shape[3] == n;
    if !shape_ok {
        return Err(bad(format!(
            "input \"raster\" has shape {:?}; expected {expected} with batch 1..={max_batch}",
            input.shape
        )));
    }
    let mut binary_output = req
        .parameters
        .as_ref()
        .and_then(|p| p.binary_data_output)
        .unwrap_or(false);
    if let Some(outputs) = &req.outputs {
        for o in outputs {
            if o.name != "probabilities" {
                return Err(bad(format!(
                    "unknown output {:?}; this model has \"probabilities\"",
                    o.name
                )));
            }
            let p = o.parameters.as_ref();
            if p.and_then(|p| p.classification).is_some() {
                return Err(bad(
                    "the classification extension is not supported; read the probabilities",
                ));
            }
            if let Some(b) = p.and_then(|p| p.binary_data) {
                binary_output = b;
            }
        }
    }
    let batch = usize::try_from(input.shape[0]).unwrap_or(1);
    let count = batch * side * side;
    let binary_size = input.parameters.as_ref().and_then(|p| p.binary_data_size);
    let values = match (input.data, binary_size) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "input \"raster\" has both data and parameters.binary_data_size",
            ));
        }
        (Some(raw), None) => json_values(raw.get(), count, &input.shape)?,
        (None, Some(size)) => {
            if header_len.is_none() {
                return Err(bad(format!(
                    "input \"raster\" has binary data but the request has no {HEADER_LENGTH} \
                     header"
                )));
            }
            binary_values(binary, size, count, &input.shape)?
        }
        (None, None) => {
            return Err(bad(
                "input \"raster\" has neither data nor parameters.binary_data_size",
            ));
        }
    };
    Ok(InferRequest {
        id: req.id,
        batch,
        values,
        binary_output,
    })
}

/// The values of a binary tensor: `size` bytes at the start of `binary`, FP32 little-endian.
fn binary_values(
    binary: &[u8],
    size: u64,
    count: usize,
    shape: &[i64],
) -> Result<Vec<f32>, InferError> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size != count * 4 {
        return Err(bad(format!(
            "input \"raster\" has binary_data_size {size}; shape {shape:?} needs {} bytes",
            count * 4
        )));
    }
    if binary.len() != size {
        return Err(bad(format!(
            "the body has {} bytes of binary data after the header; binary_data_size is {size}",
            binary.len()
        )));
    }
    let mut out = Vec::with_capacity(count);
    for chunk in binary.chunks_exact(4) {
        let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if !v.is_finite() {
            return Err(bad(format!(
                "input \"raster\": value {} is {v}, not a finite FP32",
                out.len()
            )));
        }
        out.push(v);
    }
    Ok(out)
}

/// The values of a JSON tensor (flat or nested arrays of numbers), parsed straight into
/// FP32 and refused as soon as there are more than `count`.
fn json_values(raw: &str, count: usize, shape: &[i64]) -> Result<Vec<f32>, InferError> {
    let mut out = Vec::with_capacity(count);
    let mut de = serde_json::Deserializer::from_str(raw);
    Flatten {
        out: &mut out,
        max: count,
    }
    .deserialize(&mut de)
    .map_err(|e| bad(format!("input \"raster\": {e}")))?;
    if out.len() != count {
        return Err(bad(format!(
            "input \"raster\" has {} values; shape {shape:?} needs {count}",
            out.len()
        )));
    }
    Ok(out)
}

/// Pushes every number of a (nested) JSON array onto `out`, failing past `max` values or on
/// anything that is not a finite FP32 number.
struct Flatten<'a> {
    out: &'a mut Vec<f32>,
    max: usize,
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Flatten<'_> {
    fn push<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        #[allow(clippy::cast_possible_truncation)]
        let f = v as f32;
        if !f.is_finite() {
            return Err(E::custom(format!("{v} is not a finite FP32 value")));
        }
        if self.out.len() >= self.max {
            return Err(E::custom(format!(
                "more values than the shape's {}",
                self.max
            )));
        }
        self.out.push(f);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FP32 data: numbers, in flat or nested arrays")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let max = self.max;
        while seq
            .next_element_seed(Flatten {
                out: &mut *self.out,
                max,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.push(v)
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.push(v as f64)
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.push(v as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_data_flat_or_nested_within_the_count() {
        let shape = [1, 1, 2, 2];
        assert_eq!(
            json_values("[0, 0.5, 1, 2e-1]", 4, &shape).unwrap(),
            vec![0.0, 0.5, 1.0, 0.2]
        );
        assert_eq!(
            json_values("[[[[0, 1], [2, 3]]]]", 4, &shape).unwrap(),
            vec![0.0, 1.0, 2.0, 3.0]
        );
        let more = json_values("[0, 0, 0, 0, 0]", 4, &shape).unwrap_err();
        assert!(more.0.contains("more values"), "{}", more.0);
        let fewer = json_values("[0, 0, 0]", 4, &shape).unwrap_err();
        assert!(fewer.0.contains("needs 4"), "{}", fewer.0);
        assert!(json_values("[0, \"a\", 0, 0]", 4, &shape).is_err());
        assert!(json_values("[0, 1e39, 0, 0]", 4, &shape).is_err());
    }

    #[test]
    fn binary_data_is_little_endian_fp32_of_the_declared_size() {
        let bytes: Vec<u8> = [0.25f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            binary_values(&bytes, 8, 2, &[1, 2]).unwrap(),
            vec![0.25, -1.0]
        );
        assert!(binary_values(&bytes, 4, 2, &[1, 2]).is_err());
        assert!(binary_values(&bytes[..4], 8, 2, &[1, 2]).is_err());
        let nan: Vec<u8> = [f32::NAN, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert!(binary_values(&nan, 8, 2, &[1, 2]).is_err());
    }
}
