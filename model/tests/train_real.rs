//! Trains a recognizer on the real drawings in ../shared/data (training split only) and
//! checks it on the held-out split; saves and reloads the artifact.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use inkset_model::artifact::{self, DataSnapshot, Manifest};
use inkset_model::backend::Backend;
use inkset_model::dataset::{Dataset, Split};
use inkset_model::raster::{RASTERIZER_VERSION, rasterize_version_into};
use inkset_model::training::{Control, Progress, TrainConfig, evaluate, predict, train};

#[test]
fn trains_on_real_drawings_and_round_trips_the_artifact() {
    let shapes: Vec<String> = ["circle", "line", "square", "triangle"]
        .map(String::from)
        .to_vec();
    let data = Dataset::load(
        &[inkset_testkit::shared_data().join("quickdraw/raw")],
        &shapes,
        true,
    )
    .unwrap();
    let (train_set, test_set) = (data.split(Split::Train), data.split(Split::Test));
    assert!(
        train_set.len() > 300 && test_set.len() > 60,
        "{} / {}",
        train_set.len(),
        test_set.len()
    );
    for s in &test_set {
        assert!(
            train_set.iter().all(|t| t.key_id != s.key_id),
            "a record on both sides"
        );
    }
    let config = TrainConfig {
        epochs: 8,
        ..TrainConfig::default()
    };
    let device = Backend::Cpu.training_device();
    let mut epochs = 0;
    let mut steps = 0;
    let trained = train(
        data.classes.len(),
        &train_set,
        &test_set,
        &config,
        &device,
        |p| {
            match p {
                Progress::Step(_) => steps += 1,
                Progress::Epoch(m) => {
                    epochs += 1;
                    eprintln!("{m:?}");
                }
            }
            Control::Continue
        },
    )
    .unwrap();
    assert!(steps >= 8 * (train_set.len() / config.batch_size));
    let (net, model, history) = (trained.network, trained.model, trained.history);
    assert_eq!(epochs, 8);
    assert!(history.last().unwrap().train_loss < history.first().unwrap().train_loss);

    let infer = Backend::Cpu.device();
    let eval = evaluate(
        &model,
        &data.classes,
        &test_set,
        config.input_size,
        0.0,
        &infer,
    );
    eprintln!("held-out: {eval:?}");
    // 5 classes: chance is ~20 %. A few hundred real drawings and 8 epochs get far above it.
    assert!(eval.accuracy > 0.75, "accuracy {}", eval.accuracy);
    assert_eq!(
        eval.confusion.iter().flatten().sum::<u64>(),
        test_set.len() as u64
    );

    let dir = tempfile_dir();
    let mut manifest = Manifest::recognizer(
        data.classes.clone(),
        net,
        config.clone(),
        DataSnapshot::default(),
    );
    manifest.metrics = Some(eval.clone());
    let saved = artifact::save(&dir, manifest, &model).unwrap();
    assert_eq!(saved.weights_sha256.len(), 64);
    let (loaded_manifest, loaded) = artifact::load(&dir, &infer).unwrap();
    assert_eq!(loaded_manifest, saved);
    assert_eq!(
        predict(&loaded, &test_set, config.input_size, &infer),
        predict(&model, &test_set, config.input_size, &infer)
    );
    // The classifier that serves runs the native CPU engine: the same answers as burn.
    let classifier = inkset_model::inference::Classifier::load(&dir, infer.clone()).unwrap();
    assert_eq!(classifier.engine(), "native");
    assert_eq!(classifier.evaluate(&test_set).confusion, eval.confusion);
    assert_eq!(saved.rasterizer_version, RASTERIZER_VERSION);
    // An artifact of an older rasterizer still loads, and its drawings are rasterized the
    // way it was trained (version 1's pixels, not the current version's); one from a
    // rasterizer this build does not have is refused.
    let lines = &test_set[0].lines;
    let raster_of = |c: &inkset_model::inference::Classifier| {
        let mut out = vec![0.0; config.input_size * config.input_size];
        c.rasterize_into(lines, &mut out).unwrap();
        out
    };
    let pixels = |version: u32| {
        let mut out = vec![0.0; config.input_size * config.input_size];
        let n = u32::try_from(config.input_size).unwrap();
        rasterize_version_into(version, lines, n, &mut out).unwrap();
        out
    };
    assert_eq!(raster_of(&classifier), pixels(RASTERIZER_VERSION));
    for (version, loads) in [(1, true), (RASTERIZER_VERSION + 1, false)] {
        let manifest = Manifest {
            rasterizer_version: version,
            ..saved.clone()
        };
        std::fs::write(
            dir.join(artifact::MANIFEST),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        match inkset_model::inference::Classifier::load(&dir, infer.clone()) {
            Ok(old) => {
                assert!(loads, "version {version} loaded");
                assert_eq!(raster_of(&old), pixels(1));
                assert_ne!(pixels(1), pixels(RASTERIZER_VERSION));
            }
            Err(e) => {
                assert!(!loads, "version {version}: {e}");
                assert!(matches!(e, artifact::ArtifactError::Rasterizer(v) if v == version));
            }
        }
    }
    // A corrupted weights file is refused.
    let w = dir.join(artifact::WEIGHTS);
    let mut bytes = std::fs::read(&w).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&w, bytes).unwrap();
    assert!(matches!(
        artifact::load(&dir, &infer),
        Err(artifact::ArtifactError::Checksum { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();

    // An observer that says stop ends training at once.
    let stopped = train(
        data.classes.len(),
        &train_set,
        &[],
        &config,
        &device,
        |p| match p {
            Progress::Step(m) if m.step == 3 => Control::Stop,
            _ => Control::Continue,
        },
    );
    assert_eq!(stopped.unwrap_err().step, 3);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inkset-model-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
