//! A training job's settings ([`TrainingConfig`]): its fields, their ranges and defaults,
//! and the check every server runs before it queues a job. The one home of these rules; the
//! model crate turns a config into its own with `From<&TrainingConfig>`.

use serde::{Deserialize, Serialize};

use super::{GENERATOR, MODEL_KINDS, RECOGNIZER};
use crate::validate::FieldError;

/// What a training job trains on and how. Every field has a default, so `{}` trains a good
/// recognizer on every enabled shape. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// `recognizer` (default).
    pub model_kind: String,
    /// The shapes (classes) to learn; default every enabled shape that has drawings.
    pub shapes: Option<Vec<String>>,
    /// Shapes that must have drawings; the job fails naming them otherwise. Shapes not named
    /// here that have no drawings are left out of the model with a warning.
    pub required_shapes: Vec<String>,
    /// Train the `unknown` reject class on the stored distractor drawings (words imported
    /// with `--distractors`). Default true.
    pub include_unknown: bool,
    /// Only drawings with a quality score at least this (unscored drawings are left out
    /// when set).
    pub quality_min: Option<f64>,
    /// Leave out every drawing of a contributor (player account or anonymous session) whose
    /// mean quality score is below this, 0..=1 (`GET /api/admin/contributors` shows the
    /// means). Drawings without a session (imports) are kept.
    pub contributor_quality_min: Option<f64>,
    /// Train on exactly the drawings of this dataset release (`/api/admin/releases`), and
    /// name it in the model's manifest: the same release gives the same drawings every
    /// time. It fixes the data, so `quality_min`, `contributor_quality_min`, `from` and
    /// `to` must be unset; `shapes` still picks classes.
    pub release: Option<String>,
    /// Only drawings received at or after this, ms since the Unix epoch.
    pub from: Option<i64>,
    /// Only drawings received before this, ms since the Unix epoch.
    pub to: Option<i64>,
    /// Passes over the training split (default: the model crate's, 30).
    pub epochs: Option<usize>,
    /// Samples per optimizer step (default 64).
    pub batch_size: Option<usize>,
    /// Adam learning rate (default 0.002).
    pub learning_rate: Option<f64>,
    /// Seed of weight init, shuffling and augmentation (default 42).
    pub seed: Option<u64>,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            model_kind: RECOGNIZER.into(),
            shapes: None,
            required_shapes: Vec::new(),
            include_unknown: true,
            quality_min: None,
            contributor_quality_min: None,
            release: None,
            from: None,
            to: None,
            epochs: None,
            batch_size: None,
            learning_rate: None,
            seed: None,
        }
    }
}

/// The settings a job leaves unset, per model kind: what the trainers use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingDefaults {
    /// Passes over the training split.
    pub epochs: usize,
    /// Samples per optimizer step.
    pub batch_size: usize,
    /// Adam learning rate (the recognizer's peak of its cosine decay; the generator's start
    /// of its exponential decay).
    pub learning_rate: f64,
    /// Seed of weight init, shuffling and augmentation.
    pub seed: u64,
}

impl TrainingConfig {
    /// Accepted `epochs`.
    pub const EPOCHS: std::ops::RangeInclusive<usize> = 1..=1000;
    /// Accepted `batch_size`.
    pub const BATCH_SIZE: std::ops::RangeInclusive<usize> = 1..=4096;
    /// Largest accepted `learning_rate` (it must also be above 0).
    pub const MAX_LEARNING_RATE: f64 = 1.0;

    /// The recognizer's defaults: 45 epochs of batch 64, Adam at 2e-3 with cosine decay,
    /// seed 42. At 30 epochs held-out shapes were right 94.0-95.4 % over four seeds, at 45
    /// 95.7-96.0 % (BENCHMARKS.md, "Shapes lost to unknown").
    pub const RECOGNIZER_DEFAULTS: TrainingDefaults = TrainingDefaults {
        epochs: 45,
        batch_size: 64,
        learning_rate: 2e-3,
        seed: 42,
    };

    /// The generator's defaults: 60 epochs of batch 64, Adam at 1e-3 (Sketch-RNN's rate,
    /// Ha & Eck 2017), seed 42. At 20 epochs hearts were drawn recognisably only 12 times in
    /// 20 at temperature 0.5; at 60 every shape is at 90 % or more (BENCHMARKS.md, "Shape
    /// generator").
    pub const GENERATOR_DEFAULTS: TrainingDefaults = TrainingDefaults {
        epochs: 60,
        batch_size: 64,
        learning_rate: 1e-3,
        seed: 42,
    };

    /// The defaults of this config's model kind (the recognizer's for an unknown kind).
    pub fn defaults(&self) -> TrainingDefaults {
        if self.model_kind == GENERATOR {
            Self::GENERATOR_DEFAULTS
        } else {
            Self::RECOGNIZER_DEFAULTS
        }
    }

    /// This config with its model kind's defaults filled in where it leaves a value unset.
    pub fn resolved(&self) -> TrainingDefaults {
        self.resolve(self.defaults())
    }

    /// This config with `d` filled in where it leaves a value unset.
    pub fn resolve(&self, d: TrainingDefaults) -> TrainingDefaults {
        TrainingDefaults {
            epochs: self.epochs.unwrap_or(d.epochs),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            learning_rate: self.learning_rate.unwrap_or(d.learning_rate),
            seed: self.seed.unwrap_or(d.seed),
        }
    }

    /// Checks every value against its range.
    ///
    /// # Errors
    /// The first [`FieldError`], naming `config.<field>`: `unsupported` for an unknown
    /// model kind, `out_of_range` for a value outside its range (`to` not after `from`
    /// included).
    pub fn check(&self) -> Result<(), FieldError> {
        if !MODEL_KINDS.contains(&self.model_kind.as_str()) {
            return Err(FieldError::new(
                "config.model_kind",
                "unsupported",
                format!(
                    "model_kind {:?} is not trainable here; known: {MODEL_KINDS:?}",
                    self.model_kind
                ),
            ));
        }
        if self.epochs.is_some_and(|e| !Self::EPOCHS.contains(&e)) {
            return Err(FieldError::new(
                "config.epochs",
                "out_of_range",
                "epochs must be within 1..=1000",
            ));
        }
        if self
            .batch_size
            .is_some_and(|b| !Self::BATCH_SIZE.contains(&b))
        {
            return Err(FieldError::new(
                "config.batch_size",
                "out_of_range",
                "batch_size must be within 1..=4096",
            ));
        }
        if self
            .learning_rate
            .is_some_and(|l| !l.is_finite() || l <= 0.0 || l > Self::MAX_LEARNING_RATE)
        {
            return Err(FieldError::new(
                "config.learning_rate",
                "out_of_range",
                "learning_rate must be within (0, 1]",
            ));
        }
        if self.quality_min.is_some_and(|q| !q.is_finite()) {
            return Err(FieldError::new(
                "config.quality_min",
                "out_of_range",
                "quality_min must be finite",
            ));
        }
        if self
            .contributor_quality_min
            .is_some_and(|q| !q.is_finite() || !(0.0..=1.0).contains(&q))
        {
            return Err(FieldError::new(
                "config.contributor_quality_min",
                "out_of_range",
                "contributor_quality_min must be within 0..=1",
            ));
        }
        if let Some(release) = &self.release {
            crate::api::check_release_name(release, "config.release")?;
            if self.quality_min.is_some()
                || self.contributor_quality_min.is_some()
                || self.from.is_some()
                || self.to.is_some()
            {
                return Err(FieldError::new(
                    "config.release",
                    "conflict",
                    "a release fixes the drawings: leave quality_min, contributor_quality_min, \
                     from and to unset",
                ));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(FieldError::new(
                "config.to",
                "out_of_range",
                "to must be after from",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_field_out_of_range() {
        let bad = |c: TrainingConfig| c.check().unwrap_err().field;
        assert_eq!(
            bad(TrainingConfig {
                epochs: Some(0),
                ..TrainingConfig::default()
            }),
            "config.epochs"
        );
        assert_eq!(
            bad(TrainingConfig {
                batch_size: Some(4097),
                ..TrainingConfig::default()
            }),
            "config.batch_size"
        );
        assert_eq!(
            bad(TrainingConfig {
                learning_rate: Some(f64::NAN),
                ..TrainingConfig::default()
            }),
            "config.learning_rate"
        );
        assert_eq!(
            bad(TrainingConfig {
                model_kind: "painter".into(),
                ..TrainingConfig::default()
            }),
            "config.model_kind"
        );
        assert_eq!(
            bad(TrainingConfig {
                from: Some(10),
                to: Some(10),
                ..TrainingConfig::default()
            }),
            "config.to"
        );
        assert_eq!(
            bad(TrainingConfig {
                contributor_quality_min: Some(1.5),
                ..TrainingConfig::default()
            }),
            "config.contributor_quality_min"
        );
        assert_eq!(
            bad(TrainingConfig {
                release: Some("v1".into()),
                quality_min: Some(0.5),
                ..TrainingConfig::default()
            }),
            "config.release"
        );
        assert_eq!(
            bad(TrainingConfig {
                release: Some("V 1".into()),
                ..TrainingConfig::default()
            }),
            "config.release"
        );
        let edges = TrainingConfig {
            epochs: Some(1000),
            batch_size: Some(1),
            learning_rate: Some(1.0),
            contributor_quality_min: Some(1.0),
            ..TrainingConfig::default()
        };
        assert_eq!(edges.check(), Ok(()));
    }

    #[test]
    fn unset_values_take_their_kinds_defaults() {
        let r = TrainingConfig::default().resolved();
        assert_eq!(r, TrainingConfig::RECOGNIZER_DEFAULTS);
        let g = TrainingConfig {
            model_kind: GENERATOR.into(),
            epochs: Some(3),
            ..TrainingConfig::default()
        }
        .resolved();
        assert_eq!(g.epochs, 3);
        assert_eq!(
            g.learning_rate,
            TrainingConfig::GENERATOR_DEFAULTS.learning_rate
        );
        assert_eq!(TrainingConfig::default().model_kind, RECOGNIZER);
    }
}
