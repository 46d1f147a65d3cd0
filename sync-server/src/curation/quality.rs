//! The automatic quality score of a drawing, in 0..=1, stored in `drawings.quality_score`.
//!
//! # Formula
//!
//! `quality = h × m`, where
//!
//! - `h`, the heuristic factor, is the product of
//!   - points: 0.2 when the drawing has fewer than [`MIN_POINTS`] points, else 1;
//!   - extent: the diagonal of the strokes' bounding box relative to the canvas diagonal
//!     (API drawings) is below 3 %: 0.2, below 8 %: 0.6, else 1; for imports without a
//!     canvas, whose units are unknown (device pixels, a smart pen's 0..1 page units), a
//!     diagonal of 0: 0.2 (scale-free, as the rasterizer is);
//!   - speed: a drawing of two or more points finished in under 120 ms: 0.5 (no timing: 1);
//! - `m`, the model factor, is the `production` recognizer's probability for the prompted
//!   shape; 0.5 (no opinion) when no recognizer is served or it does not know the shape.
//!
//! So a drawing the recognizer sees as its prompted shape and that looks like an honest
//! attempt scores near 1; a scribble, a tap-like speck, or a drawing of something else filed
//! under the prompt scores near 0.
//!
//! # When
//!
//! The same pass stores the recognizer's top answer and its probability
//! (`drawings.model_guess`, `drawings.model_confidence`): the console's "model verdict".
//!
//! A background task scores new drawings a moment after ingest (ingest wakes it) and
//! rescores every drawing when another recognizer version goes to production (a row
//! remembers the version that scored it in `quality_model_id`). An admin's score
//! (`PUT /api/admin/drawings/{id}/quality`) sets `quality_override` and is never rescored
//! until the override is cleared.

use std::sync::Arc;
use std::time::Duration;

use inkset_model::raster::polylines;
use inkset_protocol::Drawing;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::curation::sql::Scored;
use crate::db::Db;
use crate::inference::recognizer::Inference;
use crate::objects::Objects;

/// Fewer points than this is "too few points".
pub const MIN_POINTS: usize = 5;
/// Drawings scored per round.
const BATCH: usize = 128;
/// The model factor when no recognizer can judge the prompted shape.
const NO_OPINION: f64 = 0.5;

/// The heuristic factor `h` of the module formula.
pub fn heuristic_factor(d: &Drawing) -> f64 {
    let points = d.point_count();
    let mut h = if points < MIN_POINTS { 0.2 } else { 1.0 };
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in d.strokes.iter().flat_map(|s| s.points.iter()) {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    let diag = if points > 0 {
        (x1 - x0).hypot(y1 - y0)
    } else {
        0.0
    };
    h *= match d.canvas {
        Some(c) => {
            let rel = diag / c.width.hypot(c.height).max(1.0);
            if rel < 0.03 {
                0.2
            } else if rel < 0.08 {
                0.6
            } else {
                1.0
            }
        }
        // Without a canvas the units are unknown (device pixels, a pen's page units):
        // only a drawing without any extent is judged a speck.
        None if diag <= 0.0 => 0.2,
        None => 1.0,
    };
    let fast = points >= 2
        && match (d.duration_ms, d.source.is_some()) {
            (Some(ms), false) => ms < 120,
            _ => false,
        };
    if fast {
        h *= 0.5;
    }
    h
}

/// `h × m` (see the module formula); `prompted` is the recognizer's probability for the
/// prompted shape, `None` when it has no opinion.
pub fn score(heuristic: f64, prompted: Option<f32>) -> f64 {
    (heuristic * prompted.map_or(NO_OPINION, f64::from)).clamp(0.0, 1.0)
}

/// What the recognizer made of one drawing: its probability for the prompted shape (`None`
/// when it does not know the shape) and its top answer with that answer's probability.
type Judged = (Option<f32>, Option<(String, f32)>);

/// Scores unscored drawings and rescores those a previous production model scored, in
/// the background, until `stop` turns true. `wake` is notified when drawings are stored.
pub fn spawn(
    db: Db,
    objects: Objects,
    inference: Inference,
    wake: Arc<Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            if *stop.borrow() {
                return;
            }
            match score_round(&db, &objects, &inference).await {
                Ok(n) if n == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "quality scoring failed"),
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.changed() => return,
            }
        }
    });
}

/// Scores one batch; returns how many drawings were scored.
///
/// # Errors
/// When SQL or the object store fails.
pub async fn score_round(
    db: &Db,
    objects: &Objects,
    inference: &Inference,
) -> anyhow::Result<usize> {
    let served = inference.current();
    let model_key = served
        .as_ref()
        .map_or_else(|| "none".to_owned(), |s| s.model_id.to_string());
    let due = db.quality_due(&model_key, BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut drawings: Vec<(Uuid, Drawing)> = Vec::with_capacity(due.len());
    for (id, loc) in due {
        drawings.push((id, crate::drawings::segments::read_at(objects, &loc).await?));
    }
    // Per drawing: the prompted shape's probability and the top answer with its probability.
    let judged: Vec<Judged> = match &served {
        Some(s) => {
            let c = &s.classifier;
            let n = c.input_size();
            let mut rasters = vec![0.0f32; drawings.len() * n * n];
            let mut ok = vec![false; drawings.len()];
            for (i, (_, d)) in drawings.iter().enumerate() {
                ok[i] = c
                    .rasterize_into(
                        &polylines(&d.strokes),
                        &mut rasters[i * n * n..(i + 1) * n * n],
                    )
                    .is_ok();
            }
            let probs = inference.run(s.clone(), rasters, drawings.len()).await?;
            let classes = &c.manifest.classes;
            drawings
                .iter()
                .zip(probs)
                .zip(ok)
                .map(|(((_, d), p), ok)| {
                    if !ok {
                        // Empty or a tap: nothing for the network to judge.
                        return (Some(0.0), None);
                    }
                    let prompted = classes
                        .iter()
                        .position(|k| *k == d.shape)
                        .and_then(|i| p.get(i).copied());
                    let top = p
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .and_then(|(i, &v)| classes.get(i).map(|k| (k.clone(), v)));
                    (prompted, top)
                })
                .collect()
        }
        None => vec![(None, None); drawings.len()],
    };
    let scores: Vec<Scored> = drawings
        .iter()
        .zip(judged)
        .map(|((id, d), (p, top))| Scored {
            id: *id,
            score: score(heuristic_factor(d), p),
            confidence: top.as_ref().map(|(_, v)| f64::from(*v)),
            guess: top.map(|(k, _)| k),
        })
        .collect();
    db.set_quality(&scores, &model_key).await?;
    for s in &scores {
        metrics::histogram!(crate::observe::QUALITY_SCORE).record(s.score);
    }
    Ok(scores.len())
}

#[cfg(test)]
mod tests {
    use inkset_protocol::{Canvas, Point, Stroke};

    use super::*;

    fn drawing(points: &[(f64, f64)], duration_ms: u64) -> Drawing {
        Drawing {
            id: Uuid::nil(),
            shape: "circle".into(),
            canvas: Some(Canvas {
                width: 400.0,
                height: 300.0,
            }),
            strokes: vec![Stroke {
                points: points
                    .iter()
                    .map(|&(x, y)| Point {
                        x,
                        y,
                        pressure: None,
                        timestamp: None,
                        ..Default::default()
                    })
                    .collect(),
                color: None,
                width: None,
                pointer_type: None,
                pressure_measured: None,
            }],
            duration_ms: Some(duration_ms),
            device: None,
            user_agent: None,
            device_pixel_ratio: None,
            prompt_to_first_point_ms: None,
            session_id: None,
            source: None,
            guess: None,
            dropped_samples: None,
        }
    }

    #[test]
    fn heuristics_penalise_few_points_tiny_extent_and_haste() {
        let circle: Vec<(f64, f64)> = (0..30)
            .map(|i| {
                let a = f64::from(i) / 30.0 * std::f64::consts::TAU;
                (200.0 + 80.0 * a.cos(), 150.0 + 80.0 * a.sin())
            })
            .collect();
        assert!((heuristic_factor(&drawing(&circle, 900)) - 1.0).abs() < 1e-9);
        let three: Vec<(f64, f64)> = circle.iter().step_by(10).copied().collect();
        assert_eq!(three.len(), 3);
        assert!((heuristic_factor(&drawing(&three, 900)) - 0.2).abs() < 1e-9);
        assert!((heuristic_factor(&drawing(&circle, 60)) - 0.5).abs() < 1e-9);
        let speck: Vec<(f64, f64)> = (0..10)
            .map(|i| (100.0 + f64::from(i) * 0.5, 100.0))
            .collect();
        assert!((heuristic_factor(&drawing(&speck, 900)) - 0.2).abs() < 1e-9);
        // Without a canvas, the same circle scores the same in any units.
        for scale in [1e-3, 1.0, 1e3] {
            let scaled: Vec<(f64, f64)> = circle
                .iter()
                .map(|&(x, y)| (x * scale, y * scale))
                .collect();
            let mut d = drawing(&scaled, 900);
            d.canvas = None;
            assert!((heuristic_factor(&d) - 1.0).abs() < 1e-9, "scale {scale}");
        }
        assert!((score(1.0, Some(0.9)) - 0.9).abs() < 1e-6);
        assert!((score(0.2, None) - 0.1).abs() < 1e-9);
    }
}
