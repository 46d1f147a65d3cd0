//! Sampling drawings from a trained generator (Sketch-RNN, section 3.3): temperature and
//! seed, and the served [`ShapeGenerator`].

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use inkset_protocol::quickdraw::{QdStroke, Record};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Draws one value from a standard normal (Box-Muller).
pub(crate) fn normal(rng: &mut StdRng) -> f32 {
    let u1 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Index drawn from unnormalised log-probabilities divided by `temperature`.
pub(crate) fn categorical(logits: &[f32], temperature: f32, rng: &mut StdRng) -> usize {
    let t = temperature.max(1e-3);
    let top = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b / t));
    let weights: Vec<f32> = logits.iter().map(|&l| (l / t - top).exp()).collect();
    let total: f32 = weights.iter().sum();
    let mut u = rng.random::<f32>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Samples one step from mixture parameters (one row) at `temperature`.
pub(crate) fn sample_step(row: &[f32], m: usize, temperature: f32, rng: &mut StdRng) -> [f32; 5] {
    let j = categorical(&row[..m], temperature, rng);
    let (mx, my) = (row[m + j], row[2 * m + j]);
    let sqrt_t = temperature.max(1e-3).sqrt();
    let sx = row[3 * m + j].clamp(-8.0, 4.0).exp() * sqrt_t;
    let sy = row[4 * m + j].clamp(-8.0, 4.0).exp() * sqrt_t;
    let rho = row[5 * m + j].tanh() * 0.95;
    let (a, b) = (normal(rng), normal(rng));
    let dx = mx + sx * a;
    let dy = my + sy * (rho * a + (1.0 - rho * rho).max(0.0).sqrt() * b);
    let mut s = [dx, dy, 0.0, 0.0, 0.0];
    s[2 + categorical(&row[6 * m..6 * m + 3], temperature, rng)] = 1.0;
    s
}

/// Samples drawings of the given classes, one per `(class, seed)`, at `temperature`, at most
/// `max_points` points each (and never more than the network's `max_len`). All are run
/// as one batch; each has its own random stream, so a `(class, seed, temperature)` gives the
/// same steps whatever else is in the batch, on the same backend. Steps are stroke-5 in
/// units of the manifest's scale.
pub fn sample(
    model: &Generator,
    network: &GeneratorConfig,
    requests: &[(usize, u64)],
    temperature: f32,
    max_points: usize,
    device: &Device,
) -> Vec<Vec<[f32; 5]>> {
    let b = requests.len();
    if b == 0 {
        return Vec::new();
    }
    let c = network.classes;
    let w = 5 + c;
    let m = network.mixtures;
    let limit = max_points.min(network.max_len).max(1);
    let mut onehot = vec![0f32; b * c];
    for (i, &(class, _)) in requests.iter().enumerate() {
        onehot[i * c + class.min(c - 1)] = 1.0;
    }
    let classes = Tensor::<2>::from_data(TensorData::new(onehot.clone(), [b, c]), device);
    let mut state = model.start(classes);
    let mut rngs: Vec<StdRng> = requests
        .iter()
        .map(|&(class, seed)| StdRng::seed_from_u64(seed ^ ((class as u64) << 56)))
        .collect();
    let mut prev: Vec<[f32; 5]> = vec![[0.0, 0.0, 1.0, 0.0, 0.0]; b];
    let mut out: Vec<Vec<[f32; 5]>> = vec![Vec::new(); b];
    let mut done = vec![false; b];
    for _ in 0..limit {
        let mut input = vec![0f32; b * w];
        for i in 0..b {
            input[i * w..i * w + 5].copy_from_slice(&prev[i]);
            input[i * w + 5..(i + 1) * w].copy_from_slice(&onehot[i * c..(i + 1) * c]);
        }
        let x = Tensor::<2>::from_data(TensorData::new(input, [b, w]), device);
        let (params, next) = model.step(x, state);
        state = next;
        let rows: Vec<f32> = params
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap_or_default();
        let width = network.output();
        for i in 0..b {
            if done[i] {
                continue;
            }
            let Some(row) = rows.get(i * width..(i + 1) * width) else {
                done[i] = true;
                continue;
            };
            let mut s = sample_step(row, m, temperature, &mut rngs[i]);
            if s[4] > 0.5 && out[i].len() < 2 {
                // A drawing has at least two points: an early end keeps the pen down.
                s = [s[0], s[1], 1.0, 0.0, 0.0];
            }
            if s[4] > 0.5 {
                done[i] = true;
            } else {
                out[i].push(s);
            }
            prev[i] = s;
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    for seq in &mut out {
        if let Some(last) = seq.last_mut() {
            // The last point ends its stroke.
            last[2] = 0.0;
            last[3] = 1.0;
        }
    }
    out
}

/// Quick, Draw! strokes for generated steps: scaled by `scale`, fitted into 0..=255 (the
/// longer side 255, like the simplified dataset), rounded to integers.
pub fn to_quickdraw(steps: &[[f32; 5]], scale: f32) -> Vec<QdStroke> {
    let strokes = strokes_of(steps, scale);
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in strokes.iter().flatten() {
        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
    }
    let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    let k = if extent > 0.0 { 255.0 / extent } else { 1.0 };
    strokes
        .iter()
        .map(|s| QdStroke {
            x: s.iter()
                .map(|p| f64::from(((p[0] - lo[0]) * k).round()))
                .collect(),
            y: s.iter()
                .map(|p| f64::from(((p[1] - lo[1]) * k).round()))
                .collect(),
            t: None,
            float_form: Vec::new(),
        })
        .collect()
}

/// A generator ready to draw.
#[derive(Debug, Clone)]
pub struct ShapeGenerator {
    /// Its manifest.
    pub manifest: GeneratorManifest,
    pub(crate) model: Generator,
    pub(crate) device: Device,
}

/// Why a generation request cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// The shape is not one the generator was trained on.
    #[error("shape {shape:?} is not one this generator draws ({known})")]
    UnknownShape {
        /// Asked.
        shape: String,
        /// Known, comma-separated.
        known: String,
    },
    /// The temperature is outside (0, 2].
    #[error("temperature must be within (0, 2], got {0}")]
    Temperature(f32),
}

impl ShapeGenerator {
    /// Loads Burnpack `weights` for `manifest` onto `device` (checksum checked).
    ///
    /// # Errors
    /// A checksum mismatch or weights that do not fit the network.
    pub fn from_bytes(
        manifest: GeneratorManifest,
        weights: Vec<u8>,
        device: Device,
    ) -> Result<Self, crate::artifact::ArtifactError> {
        use burn::store::{BurnpackStore, ModuleSnapshot};
        let actual = crate::artifact::sha256_hex(&weights);
        if actual != manifest.weights_sha256 {
            return Err(crate::artifact::ArtifactError::Checksum {
                expected: manifest.weights_sha256.clone(),
                actual,
            });
        }
        let mut model = manifest.network.init(&device);
        let mut store =
            BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(weights)));
        let result = model
            .load_from(&mut store)
            .map_err(|e| crate::artifact::ArtifactError::Weights(e.to_string()))?;
        if !result.missing.is_empty() {
            return Err(crate::artifact::ArtifactError::Weights(format!(
                "missing tensors: {:?}",
                result.missing
            )));
        }
        Ok(Self {
            manifest,
            model: model.valid(),
            device,
        })
    }

    /// Loads an artifact directory.
    ///
    /// # Errors
    /// I/O, an unreadable manifest, or as [`Self::from_bytes`].
    pub fn load(
        dir: &std::path::Path,
        device: Device,
    ) -> Result<Self, crate::artifact::ArtifactError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| crate::artifact::ArtifactError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let manifest = serde_json::from_slice(&read(crate::artifact::MANIFEST)?)?;
        Self::from_bytes(manifest, read(crate::artifact::WEIGHTS)?, device)
    }

    /// Writes the artifact (`manifest.json`, `weights.bpk`) into `dir`; returns the manifest
    /// with its checksum.
    ///
    /// # Errors
    /// I/O or serialisation.
    pub fn save(
        dir: &std::path::Path,
        mut manifest: GeneratorManifest,
        model: &Generator,
    ) -> Result<GeneratorManifest, crate::artifact::ArtifactError> {
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| crate::artifact::ArtifactError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let weights = generator_weights(model)?;
        manifest.weights_sha256 = crate::artifact::sha256_hex(&weights);
        let w = dir.join(crate::artifact::WEIGHTS);
        std::fs::write(&w, &weights).map_err(io(&w))?;
        let m = dir.join(crate::artifact::MANIFEST);
        std::fs::write(&m, serde_json::to_vec_pretty(&manifest)?).map_err(io(&m))?;
        Ok(manifest)
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Index of a shape.
    ///
    /// # Errors
    /// [`GenerateError::UnknownShape`].
    pub fn class_index(&self, shape: &str) -> Result<usize, GenerateError> {
        self.manifest
            .classes
            .iter()
            .position(|c| c == shape)
            .ok_or_else(|| GenerateError::UnknownShape {
                shape: shape.to_owned(),
                known: self.manifest.classes.join(", "),
            })
    }

    /// Stroke-5 steps for each `(shape index, seed)` at `temperature` (module docs).
    ///
    /// # Errors
    /// [`GenerateError::Temperature`] outside (0, 2].
    pub fn sample(
        &self,
        requests: &[(usize, u64)],
        temperature: f32,
        max_points: usize,
    ) -> Result<Vec<Vec<[f32; 5]>>, GenerateError> {
        if !(temperature > 0.0 && temperature <= 2.0) {
            return Err(GenerateError::Temperature(temperature));
        }
        Ok(sample(
            &self.model,
            &self.manifest.network,
            requests,
            temperature,
            max_points,
            &self.device,
        ))
    }

    /// One drawing of `shape` as Quick, Draw! strokes (0..=255, integers).
    ///
    /// # Errors
    /// As [`Self::class_index`] and [`Self::sample`].
    pub fn generate(
        &self,
        shape: &str,
        temperature: f32,
        seed: u64,
        max_points: usize,
    ) -> Result<Vec<QdStroke>, GenerateError> {
        let class = self.class_index(shape)?;
        let steps = self
            .sample(&[(class, seed)], temperature, max_points)?
            .pop()
            .unwrap_or_default();
        Ok(to_quickdraw(&steps, self.manifest.scale))
    }
}

/// A generated drawing in the API's format: the Quick, Draw! strokes of [`to_quickdraw`]
/// on a 256 x 256 canvas, no timing, with `source` naming where it came from (`origin`)
/// and `key_id` (the import origin's metadata, which is what generated drawings are
/// validated as).
pub fn to_drawing(
    shape: &str,
    strokes: Vec<QdStroke>,
    key_id: u64,
    origin: String,
) -> inkset_protocol::drawing::Drawing {
    let mut drawing = Record {
        word: shape.to_owned(),
        countrycode: None,
        timestamp: None,
        recognized: None,
        key_id,
        drawing: strokes,
        source: Some(origin),
    }
    .into_drawing();
    drawing.canvas = Some(inkset_protocol::drawing::Canvas {
        width: 256.0,
        height: 256.0,
    });
    drawing
}
