//! `inkset-trainer sample-eval`: how recognisably a generator draws each shape, judged by a
//! recognizer (and, with the wgpu feature, whether CPU and wgpu sample the same strokes).

use anyhow::Context;
use inkset_model::backend::Backend;
use inkset_model::generator::{ShapeGenerator, to_quickdraw};
use inkset_model::inference::Classifier;

/// The `sample-eval` command (see [`Command::SampleEval`]).
pub(crate) fn sample_eval(
    generator: &std::path::Path,
    recognizer: &std::path::Path,
    count: usize,
    temperature: f32,
    compare_wgpu: bool,
    samples_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use inkset_protocol::validate::{Limits, Origin, validate};
    let gen_cpu = ShapeGenerator::load(generator, Backend::Cpu.device())
        .with_context(|| format!("loading {}", generator.display()))?;
    let classifier = Classifier::load(recognizer, Backend::Cpu.device())
        .with_context(|| format!("loading {}", recognizer.display()))?;
    let shapes = gen_cpu.manifest.classes.clone();
    let requests: Vec<(usize, u64)> = (0..shapes.len())
        .flat_map(|c| (0..count as u64).map(move |seed| (c, seed)))
        .collect();
    let started = std::time::Instant::now();
    let samples = gen_cpu.sample(&requests, temperature, 1000)?;
    let secs = started.elapsed().as_secs_f64();
    let again = gen_cpu.sample(&requests, temperature, 1000)?;
    let repeated = samples.iter().zip(&again).filter(|(a, b)| a == b).count();
    let mut out = samples_out
        .map(std::fs::File::create)
        .transpose()
        .context("creating the samples file")?;
    let mut right = vec![0usize; shapes.len()];
    let mut answers: Vec<std::collections::BTreeMap<String, usize>> =
        vec![Default::default(); shapes.len()];
    let (mut valid, mut points) = (0usize, 0usize);
    for (&(class, seed), steps) in requests.iter().zip(&samples) {
        let strokes = to_quickdraw(steps, gen_cpu.manifest.scale);
        points += strokes.iter().map(|s| s.x.len()).sum::<usize>();
        let drawing = inkset_model::generator::to_drawing(
            &shapes[class],
            strokes.clone(),
            seed,
            format!("inkset generator, seed {seed}, temperature {temperature}"),
        );
        valid += usize::from(
            validate(&drawing, Origin::Import, &Limits::DEFAULT, |s| {
                shapes.iter().any(|x| x == s)
            })
            .is_ok(),
        );
        let lines = inkset_model::raster::polylines(&drawing.strokes);
        let label = match classifier.classify(&lines) {
            Ok((d, _)) => d.label,
            Err(_) => "(not a drawing)".into(),
        };
        right[class] += usize::from(label == shapes[class]);
        *answers[class].entry(label).or_default() += 1;
        if let Some(f) = out.as_mut() {
            use std::io::Write;
            let rec = inkset_protocol::quickdraw::Record {
                word: shapes[class].clone(),
                countrycode: None,
                timestamp: None,
                recognized: None,
                key_id: seed,
                drawing: strokes,
                source: Some(format!(
                    "inkset generator, seed {seed}, temperature {temperature}"
                )),
            };
            writeln!(f, "{}", rec.to_line())?;
        }
    }
    println!(
        "{} samples at temperature {temperature} ({:.1} ms per drawing in one batch of {}; {:.1} points on average)",
        samples.len(),
        secs * 1e3 / samples.len().max(1) as f64,
        samples.len(),
        points as f64 / samples.len().max(1) as f64
    );
    println!("{:<10} {:>9} {:>8}  answers", "shape", "as asked", "share");
    for (c, shape) in shapes.iter().enumerate() {
        println!(
            "{shape:<10} {:>5}/{count:<3} {:>7.1}%  {:?}",
            right[c],
            100.0 * right[c] as f64 / count.max(1) as f64,
            answers[c]
        );
    }
    println!(
        "pass the server's drawing validation: {valid}/{}; same seed, same strokes: {repeated}/{}",
        samples.len(),
        samples.len()
    );
    #[cfg(feature = "wgpu")]
    if compare_wgpu {
        let gen_gpu = ShapeGenerator::load(generator, Backend::Wgpu.device())?;
        let gpu = gen_gpu.sample(&requests, temperature, 1000)?;
        let (mut same, mut same_len, mut max_diff) = (0usize, 0usize, 0f32);
        let scale = gen_cpu.manifest.scale;
        let mut same_points = 0usize;
        for (a, b) in samples.iter().zip(&gpu) {
            same += usize::from(a == b);
            same_points += usize::from(to_quickdraw(a, scale) == to_quickdraw(b, scale));
            if a.len() == b.len() {
                same_len += 1;
                for (p, q) in a.iter().zip(b) {
                    for k in 0..5 {
                        max_diff = max_diff.max((p[k] - q[k]).abs());
                    }
                }
            }
        }
        println!(
            "cpu vs wgpu: bit-identical steps {same}/{n}; same drawing after rounding to the API's integer points {same_points}/{n}; same length {same_len}/{n}; largest step difference among same-length samples {max_diff:.3e} (offset units of {scale:.2} px)",
            n = samples.len()
        );
    }
    #[cfg(not(feature = "wgpu"))]
    if compare_wgpu {
        anyhow::bail!("built without the wgpu backend");
    }
    Ok(())
}
