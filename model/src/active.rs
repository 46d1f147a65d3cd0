//! Prompts chosen by what the model needs (active learning at the collection step).
//!
//! Each shape gets a need in 0..=`error_weight + rarity_weight`: how wrong the production
//! recognizer is on it (`1 - F1` on its held-out drawings, which counts both its misses and
//! the drawings of other shapes it takes for it) and how rare its drawings are (`1 -
//! drawings / the most drawings of any shape`). Prompts are dealt in cycles of `shapes +
//! extra`: every shape once (so every player sees every shape and none is starved: its
//! share is at least `1 / (shapes + extra)`), then `extra` prompts drawn with probability
//! proportional to need. Under [`PromptPolicy::Random`] the extra prompts are drawn
//! uniformly, so every shape has the same share.
//!
//! [`simulate`] measures what this buys on real drawings: the pool is a labelled dataset,
//! collection starts from a small seed set, and each round deals prompts by a policy, takes
//! an unused drawing of each prompted shape from the pool, retrains and scores a fixed
//! held-out set.

use inkset_protocol::api::{PromptPolicy, ShapeNeed};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::dataset::{Dataset, Sample, Split};
use crate::training::{Control, Evaluation, TrainConfig, evaluate, train};

/// The policy's knobs (`[prompts]` in the server's settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptSettings {
    /// `active` (default) or `random`.
    pub policy: PromptPolicy,
    /// Prompts per cycle chosen by need, on top of one of every shape (default: as many as
    /// there are shapes, so a shape's share ranges from `1 / (2K)` to `(K + 1) / (2K)`).
    pub extra_per_cycle: Option<usize>,
    /// Weight of `1 - F1` in the need.
    pub error_weight: f64,
    /// Weight of rarity in the need.
    pub rarity_weight: f64,
}

impl Default for PromptSettings {
    fn default() -> Self {
        Self {
            policy: PromptPolicy::Active,
            extra_per_cycle: None,
            error_weight: 1.0,
            rarity_weight: 0.5,
        }
    }
}

impl PromptSettings {
    /// Extra prompts per cycle for `shapes` shapes.
    pub fn extra(&self, shapes: usize) -> usize {
        self.extra_per_cycle.unwrap_or(shapes)
    }
}

/// One class's held-out errors: F1, recall, and the class its drawings are most often taken
/// for with the share of them.
type ClassError = (f64, f64, Option<(usize, f64)>);

/// Per-class [`ClassError`] from an evaluation; `None` for a class without held-out
/// drawings.
#[allow(clippy::cast_precision_loss)]
fn class_errors(eval: &Evaluation) -> Vec<Option<ClassError>> {
    eval.per_class
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if m.support == 0 {
                return None;
            }
            let f1 = if m.precision + m.recall > 0.0 {
                2.0 * m.precision * m.recall / (m.precision + m.recall)
            } else {
                0.0
            };
            let row = eval.confusion.get(i);
            let confused = row.and_then(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(j, n)| *j != i && **n > 0)
                    .max_by_key(|(_, n)| **n)
                    .map(|(j, n)| (j, *n as f64 / m.support as f64))
            });
            Some((f1, m.recall, confused))
        })
        .collect()
}

/// Each shape's need and share (see the module docs). `drawings[i]` is the usable drawings
/// of `shapes[i]`; `eval` is the production recognizer's held-out evaluation with its
/// `classes` (shapes it does not know have no error term).
#[allow(clippy::cast_precision_loss)]
pub fn needs(
    settings: &PromptSettings,
    shapes: &[String],
    drawings: &[u64],
    eval: Option<(&[String], &Evaluation)>,
) -> Vec<ShapeNeed> {
    let k = shapes.len();
    let most = drawings.iter().copied().max().unwrap_or(0);
    let errors = eval.map(|(classes, e)| (classes, class_errors(e)));
    let mut out: Vec<ShapeNeed> = shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n = drawings.get(i).copied().unwrap_or(0);
            let rarity = if most == 0 {
                0.0
            } else {
                1.0 - n as f64 / most as f64
            };
            let err = errors.as_ref().and_then(|(classes, errs)| {
                let c = classes.iter().position(|c| c == shape)?;
                let (f1, recall, confused) = (*errs.get(c)?)?;
                Some((
                    f1,
                    recall,
                    confused.map(|(j, share)| (classes[j].clone(), share)),
                ))
            });
            let need = settings.error_weight * err.as_ref().map_or(0.0, |e| 1.0 - e.0)
                + settings.rarity_weight * rarity;
            let mut reason = match &err {
                Some((f1, _, Some((other, share)))) => format!(
                    "F1 {f1:.2}; {:.0} % of its held-out drawings taken for {other}",
                    share * 100.0
                ),
                Some((f1, _, None)) => format!("F1 {f1:.2}"),
                None if eval.is_some() => "not in the production model".to_owned(),
                None => "no production model yet".to_owned(),
            };
            reason.push_str(&format!(
                "; {n} drawings ({:.0} % fewer than the most drawn shape)",
                rarity * 100.0
            ));
            ShapeNeed {
                shape: shape.clone(),
                drawings: n,
                f1: err.as_ref().map(|e| e.0),
                recall: err.as_ref().map(|e| e.1),
                confused_with: err.as_ref().and_then(|e| e.2.as_ref().map(|c| c.0.clone())),
                confused_share: err.as_ref().and_then(|e| e.2.as_ref().map(|c| c.1)),
                need,
                share: 0.0,
                reason,
            }
        })
        .collect();
    let extra = settings.extra(k) as f64;
    let total: f64 = out.iter().map(|s| s.need).sum();
    for s in &mut out {
        let p = probability(settings.policy, s.need, total, k);
        s.share = (1.0 + extra * p) / (k as f64 + extra);
    }
    out
}

/// Probability that an extra prompt is this shape.
#[allow(clippy::cast_precision_loss)]
fn probability(policy: PromptPolicy, need: f64, total: f64, k: usize) -> f64 {
    match policy {
        PromptPolicy::Active if total > 0.0 => need / total,
        _ => 1.0 / k.max(1) as f64,
    }
}

/// The next `count` prompts (indices into `needs`): whole cycles of every shape once plus
/// `extra` drawn by need (uniformly under `random`), each cycle shuffled so that no shape
/// comes twice in a row where another order allows it.
pub fn deal(
    policy: PromptPolicy,
    needs: &[ShapeNeed],
    extra: usize,
    count: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let k = needs.len();
    if k == 0 {
        return Vec::new();
    }
    let total: f64 = needs.iter().map(|s| s.need).sum();
    let weights: Vec<f64> = needs
        .iter()
        .map(|s| probability(policy, s.need, total, k))
        .collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let mut cycle: Vec<usize> = (0..k).collect();
        for _ in 0..extra {
            let mut x = rng.random::<f64>();
            let mut pick = k - 1;
            for (i, w) in weights.iter().enumerate() {
                if x < *w {
                    pick = i;
                    break;
                }
                x -= w;
            }
            cycle.push(pick);
        }
        cycle.shuffle(rng);
        spread(&mut cycle, out.last().copied());
        out.extend(cycle);
    }
    out.truncate(count);
    out
}

/// Reorders `cycle` so that equal neighbours (and a first prompt equal to `before`) are
/// avoided where possible: a greedy pass that always takes the most frequent remaining
/// shape that differs from the previous one.
fn spread(cycle: &mut [usize], before: Option<usize>) {
    let mut counts: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    // Keep the shuffled order as the tie-break: first appearance.
    let mut order: Vec<usize> = Vec::new();
    for &c in cycle.iter() {
        if !counts.contains_key(&c) {
            order.push(c);
        }
        *counts.entry(c).or_default() += 1;
    }
    let mut prev = before;
    for slot in cycle.iter_mut() {
        let pick = order
            .iter()
            .copied()
            .filter(|c| counts[c] > 0 && Some(*c) != prev)
            .max_by_key(|c| {
                (
                    counts[c],
                    std::cmp::Reverse(order.iter().position(|o| o == c)),
                )
            })
            .or_else(|| order.iter().copied().find(|c| counts[c] > 0));
        if let Some(p) = pick {
            *slot = p;
            if let Some(n) = counts.get_mut(&p) {
                *n -= 1;
            }
            prev = Some(p);
        }
    }
}

/// Settings of [`simulate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulationConfig {
    /// Drawings per class collected before the first round.
    pub seed_per_class: usize,
    /// Drawings collected per round.
    pub round_size: usize,
    /// Rounds.
    pub rounds: usize,
    /// Seeds (one run per seed and policy).
    pub seeds: Vec<u64>,
    /// The training recipe of every retraining (its `seed` is replaced by the run's).
    pub train: TrainConfig,
    /// The policy's knobs (its `policy` is replaced by the run's).
    pub prompts: PromptSettings,
}

/// One point of a learning curve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Drawings collected so far.
    pub drawings: usize,
    /// Collected drawings per class.
    pub per_class: Vec<usize>,
    /// Accuracy on the fixed held-out set.
    pub accuracy: f64,
    /// Macro-averaged F1 on the fixed held-out set.
    pub macro_f1: f64,
}

/// One policy's learning curve for one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulationRun {
    /// The policy.
    pub policy: PromptPolicy,
    /// The seed.
    pub seed: u64,
    /// After the seed set, then after each round.
    pub points: Vec<CurvePoint>,
}

/// Macro-averaged F1 of an evaluation.
#[allow(clippy::cast_precision_loss)]
pub fn macro_f1(eval: &Evaluation) -> f64 {
    let f1s: Vec<f64> = class_errors(eval)
        .into_iter()
        .flatten()
        .map(|e| e.0)
        .collect();
    if f1s.is_empty() {
        0.0
    } else {
        f1s.iter().sum::<f64>() / f1s.len() as f64
    }
}

/// Drawings the `active` runs needed to reach the accuracy the `random` run of the same
/// seed ended at, by linear interpolation between curve points: `(seed, random final
/// accuracy, random drawings, active drawings or None if never reached)`.
#[allow(clippy::cast_precision_loss)]
pub fn drawings_to_match(runs: &[SimulationRun]) -> Vec<(u64, f64, usize, Option<f64>)> {
    let mut out = Vec::new();
    for r in runs.iter().filter(|r| r.policy == PromptPolicy::Random) {
        let Some(a) = runs
            .iter()
            .find(|a| a.policy == PromptPolicy::Active && a.seed == r.seed)
        else {
            continue;
        };
        let Some(last) = r.points.last() else {
            continue;
        };
        let target = last.accuracy;
        let mut reached = None;
        for w in a.points.windows(2) {
            let (p, q) = (&w[0], &w[1]);
            if p.accuracy >= target {
                reached = Some(p.drawings as f64);
                break;
            }
            if q.accuracy >= target {
                let t = (target - p.accuracy) / (q.accuracy - p.accuracy);
                reached = Some(p.drawings as f64 + t * (q.drawings - p.drawings) as f64);
                break;
            }
        }
        if reached.is_none() && a.points.len() == 1 && a.points[0].accuracy >= target {
            reached = Some(a.points[0].drawings as f64);
        }
        out.push((r.seed, target, last.drawings, reached));
    }
    out
}

/// Errors of [`simulate`].
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// A class has fewer pool drawings than the seed set needs.
    #[error("class {0} has {1} drawings in the pool, fewer than the seed set's {2}")]
    TooFew(String, usize, usize),
    /// Training stopped.
    #[error("training was stopped")]
    Stopped,
}

/// Runs the collection simulation of the module docs for both policies and every seed
/// (see [`SimulationConfig`]); `observe` hears each finished point.
///
/// The held-out set is the dataset's test split (20 % by `key_id`, as every Inkset model
/// uses); the pool is the rest. The policy sees what a server would: the evaluation of the
/// model trained so far on the collected drawings' own held-out part (their validation
/// split), never the fixed held-out set.
///
/// # Errors
/// [`SimulationError`] when a class cannot fill the seed set, or training stops.
pub fn simulate(
    ds: &Dataset,
    config: &SimulationConfig,
    backend: Backend,
    mut observe: impl FnMut(&SimulationRun, &CurvePoint),
) -> Result<Vec<SimulationRun>, SimulationError> {
    let k = ds.classes.len();
    let test: Vec<Sample> = ds.split(Split::Test);
    let mut pool_by_class: Vec<Vec<Sample>> = vec![Vec::new(); k];
    for s in ds
        .samples
        .iter()
        .filter(|s| Split::of(s.key_id) != Split::Test)
    {
        pool_by_class[s.label].push(s.clone());
    }
    for (c, p) in pool_by_class.iter().enumerate() {
        if p.len() < config.seed_per_class {
            return Err(SimulationError::TooFew(
                ds.classes[c].clone(),
                p.len(),
                config.seed_per_class,
            ));
        }
    }
    let device = backend.device();
    let n = config.train.input_size;
    let mut runs = Vec::new();
    for &seed in &config.seeds {
        for policy in [PromptPolicy::Random, PromptPolicy::Active] {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut pool = pool_by_class.clone();
            for p in &mut pool {
                p.shuffle(&mut rng);
            }
            let mut collected: Vec<Sample> = Vec::new();
            for p in &mut pool {
                collected.extend(p.drain(..config.seed_per_class));
            }
            let mut run = SimulationRun {
                policy,
                seed,
                points: Vec::new(),
            };
            let settings = PromptSettings {
                policy,
                ..config.prompts.clone()
            };
            for round in 0..=config.rounds {
                let (fit, check): (Vec<Sample>, Vec<Sample>) = collected
                    .iter()
                    .cloned()
                    .partition(|s| Split::of(s.key_id) == Split::Train);
                let train_config = TrainConfig {
                    seed,
                    ..config.train.clone()
                };
                let trained = train(
                    k,
                    &fit,
                    &[],
                    &train_config,
                    &backend.training_device(),
                    |_| Control::Continue,
                )
                .map_err(|_| SimulationError::Stopped)?;
                let eval = evaluate(&trained.model, &ds.classes, &test, n, 0.0, &device);
                let mut per_class = vec![0; k];
                for s in &collected {
                    per_class[s.label] += 1;
                }
                let point = CurvePoint {
                    drawings: collected.len(),
                    per_class,
                    accuracy: eval.accuracy,
                    macro_f1: macro_f1(&eval),
                };
                observe(&run, &point);
                run.points.push(point);
                if round == config.rounds {
                    break;
                }
                // The policy sees the model's own held-out evaluation, as on a server.
                let own = evaluate(&trained.model, &ds.classes, &check, n, 0.0, &device);
                let counts: Vec<u64> = run
                    .points
                    .last()
                    .map(|p| p.per_class.iter().map(|&c| c as u64).collect())
                    .unwrap_or_default();
                let plan = needs(
                    &settings,
                    &ds.classes,
                    &counts,
                    Some((ds.classes.as_slice(), &own)),
                );
                let mut taken = 0;
                let mut attempts = 0;
                while taken < config.round_size && attempts < 100 {
                    attempts += 1;
                    let want = config.round_size - taken;
                    for c in deal(policy, &plan, settings.extra(k), want, &mut rng) {
                        // A prompted shape with no drawing left in the pool: the player's
                        // drawing would be a new one we do not have; skip it.
                        if let Some(s) = pool[c].pop() {
                            collected.push(s);
                            taken += 1;
                        }
                    }
                }
            }
            runs.push(run);
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::ClassMetrics;

    fn eval(f1ish: &[(f64, f64)], confusion: Vec<Vec<u64>>) -> Evaluation {
        Evaluation {
            accuracy: 0.9,
            per_class: f1ish
                .iter()
                .enumerate()
                .map(|(i, (p, r))| ClassMetrics {
                    class: format!("c{i}"),
                    precision: *p,
                    recall: *r,
                    support: 10,
                })
                .collect(),
            confusion,
            count: 30,
        }
    }

    #[test]
    fn confused_and_rare_shapes_get_more_prompts_and_none_is_starved() {
        let shapes: Vec<String> = ["circle", "heart", "line"].map(str::to_owned).to_vec();
        let e = eval(
            &[(1.0, 1.0), (0.5, 0.5), (1.0, 1.0)],
            vec![vec![10, 0, 0], vec![5, 5, 0], vec![0, 0, 10]],
        );
        let s = PromptSettings::default();
        let plan = needs(&s, &shapes, &[100, 100, 100], Some((shapes.as_slice(), &e)));
        assert!(plan[1].share > plan[0].share && plan[1].share > 1.0 / 3.0);
        assert_eq!(plan[1].confused_with.as_deref(), Some("circle"));
        assert!((plan[1].confused_share.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert!(
            plan[1].reason.contains("taken for circle"),
            "{}",
            plan[1].reason
        );
        let total: f64 = plan.iter().map(|p| p.share).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        for p in &plan {
            assert!(p.share >= 1.0 / 6.0 - 1e-9, "{p:?}");
        }
        // Random: equal shares whatever the model says.
        let r = PromptSettings {
            policy: PromptPolicy::Random,
            ..s.clone()
        };
        for p in needs(&r, &shapes, &[100, 100, 100], Some((shapes.as_slice(), &e))) {
            assert!((p.share - 1.0 / 3.0).abs() < 1e-9);
        }
        // Without a model, rarity alone.
        let plan = needs(&s, &shapes, &[300, 30, 300], None);
        assert!(plan[1].share > plan[0].share);
        assert_eq!(plan[0].f1, None);
    }

    #[test]
    fn every_cycle_holds_every_shape_and_the_shares_follow_need() {
        let shapes: Vec<String> = ["a", "b", "c", "d", "e"].map(str::to_owned).to_vec();
        let s = PromptSettings::default();
        let plan = needs(&s, &shapes, &[10, 10, 10, 10, 1000], None);
        let mut rng = StdRng::seed_from_u64(7);
        let cycle = 10;
        let dealt = deal(
            PromptPolicy::Active,
            &plan,
            s.extra(5),
            cycle * 2_000,
            &mut rng,
        );
        for c in dealt.chunks(cycle) {
            let mut seen: Vec<usize> = c.to_vec();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 5, "{c:?}");
        }
        #[allow(clippy::cast_precision_loss)]
        for (i, p) in plan.iter().enumerate() {
            let got = dealt.iter().filter(|&&d| d == i).count() as f64 / dealt.len() as f64;
            assert!((got - p.share).abs() < 0.01, "{i}: {got} vs {}", p.share);
        }
        // Neighbours differ where they can.
        let repeats = dealt.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(repeats * 50 < dealt.len(), "{repeats}");
    }
}
