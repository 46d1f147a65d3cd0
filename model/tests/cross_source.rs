//! Leave-one-source-out on two real sources from ../shared/data: Detexify (five shapes and
//! no distractors) and the Momocs hearts. Each run trains on the other source only and
//! scores every drawing of the held-out source whose word is a shape.
#![allow(clippy::unwrap_used, missing_docs)]

use inkset_model::backend::Backend;
use inkset_model::dataset::Dataset;
use inkset_model::pipeline::{Source, leave_one_source_out};
use inkset_model::training::{Control, TrainConfig};

#[test]
fn scores_each_held_out_source_on_its_own_shapes() {
    let data = inkset_testkit::shared_data().join("derived");
    let sources = vec![
        Source {
            name: "detexify".into(),
            paths: vec![data.join("detexify")],
        },
        Source {
            name: "momocs".into(),
            paths: vec![data.join("momocs_hearts")],
        },
    ];
    let shapes: Vec<String> = ["line", "heart", "circle", "square", "triangle"]
        .map(String::from)
        .to_vec();
    let config = TrainConfig {
        epochs: 2,
        channels: [8, 16, 32],
        hidden: 32,
        ..TrainConfig::default()
    };
    let mut runs = Vec::new();
    let results = leave_one_source_out(&sources, &shapes, &config, Backend::Cpu, |held, _| {
        if runs.last().map(String::as_str) != Some(held) {
            runs.push(held.to_owned());
        }
        Control::Continue
    })
    .unwrap();
    assert_eq!(runs, ["detexify", "momocs"]);
    assert_eq!(results.len(), 2);

    // Held out Momocs: only hearts are scored, every unique one of them.
    let momocs = Dataset::load(&sources[1].paths, &shapes, true).unwrap();
    let m = &results[1];
    assert_eq!(m.source, "momocs");
    assert_eq!(m.shapes, ["heart"]);
    assert_eq!(m.evaluation.count, momocs.samples.len() as u64);
    let heart = m
        .evaluation
        .per_class
        .iter()
        .find(|c| c.class == "heart")
        .unwrap();
    assert_eq!(heart.support, m.evaluation.count);
    assert!((heart.recall - m.evaluation.accuracy).abs() < 1e-12);
    // Trained on Detexify alone (its training split, balanced).
    assert!(m.trained_on > 0);

    // Held out Detexify: its five shapes, every unique drawing.
    let detexify = Dataset::load(&sources[0].paths, &shapes, true).unwrap();
    let d = &results[0];
    assert_eq!(d.shapes, shapes);
    assert_eq!(d.evaluation.count, detexify.samples.len() as u64);
    assert!((0.0..=1.0).contains(&d.evaluation.accuracy));
}
