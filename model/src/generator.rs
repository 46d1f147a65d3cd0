//! The shape generator: a class-conditional Sketch-RNN decoder (Ha & Eck, "A Neural
//! Representation of Sketch Drawings", 2017) that writes stroke-5 sequences.
//!
//! ```text
//! class one-hot [batch, C]  -> linear, tanh          -> (h0, c0) of the LSTM, [batch, H] each
//! step t input  [batch, 5 + C] = (S_{t-1}, class one-hot), S_0 = (0, 0, 1, 0, 0)
//!   -> LSTM cell (H)                                 -> h_t [batch, H]
//!   -> linear (H -> 6M + 3)                          -> the mixture density output:
//!        M mixture weights (logits), M x (mu_x, mu_y, log sigma_x, log sigma_y, rho_raw),
//!        3 pen-state logits (p1 pen down, p2 pen up, p3 end)
//! ```
//!
//! Stroke-5 (Ha & Eck, section 3.1): each step is `(dx, dy, p1, p2, p3)`: the offset from
//! the previous point, in units of [`GeneratorManifest::scale`] (the standard deviation of
//! the offsets in the training data), and a one-hot pen state: `p1` the pen stays down to the
//! next point, `p2` the pen lifts after this point, `p3` the drawing has ended.
//!
//! Data preparation follows the paper's recipe: Quick, Draw!'s simplification (uniform scale
//! to 255, 1 px resampling, Ramer-Douglas-Peucker with epsilon 2), drawings longer than
//! [`GeneratorConfig::max_len`] points left out, offsets divided by their standard deviation;
//! augmentation by random per-axis scaling (+-15 %) and point dropout (10 % of interior
//! points, their offset merged into the next). The loss is the paper's reconstruction loss:
//! the offsets' negative log-likelihood under the mixture over the drawn steps plus the pen
//! states' cross-entropy over every step up to the longest, both divided by that length.
//! Sampling (paper, section 3.3) divides the mixture and pen logits by the temperature and
//! multiplies the variances by it; a seed makes it repeatable.

mod artifact;
mod data;
mod network;
mod sampling;
mod training;

pub use artifact::*;
pub use data::*;
pub use network::*;
pub use sampling::*;
pub use training::*;

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::training::Control;

    #[test]
    fn stroke5_round_trip_keeps_strokes_and_pen_states() {
        let lines = vec![
            vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]],
            vec![[0.0, 100.0], [50.0, 50.0]],
        ];
        let steps = lines_to_stroke5(&lines).unwrap();
        assert_eq!(steps.len(), 5);
        assert_eq!(
            steps.iter().map(|s| [s[2], s[3]]).collect::<Vec<_>>(),
            vec![[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
        );
        let back = strokes_of(&steps, 1.0);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].len(), 3);
        // Simplified to 0..=255 and offset from the box centre.
        let start = [steps[0][0], steps[0][1]];
        assert_eq!(back[0][1], [start[0] + 255.0, start[1]]);
        let qd = to_quickdraw(&steps, 1.0);
        assert_eq!(qd[0].x, vec![0.0, 255.0, 255.0]);
        assert_eq!(qd[1].y, vec![255.0, 127.0]);
    }

    #[test]
    fn point_dropout_keeps_ends_and_total_offset() {
        let steps: Vec<[f32; 5]> = (0..50)
            .map(|k| [1.0, 2.0, f32::from(k != 49), f32::from(k == 49), 0.0])
            .collect();
        let a = GeneratorAugment {
            scale: 0.0,
            point_dropout: 0.5,
        };
        let mut rng = StdRng::seed_from_u64(7);
        let out = a.apply(&steps, &mut rng);
        assert!(out.len() < 50 && out.len() > 2);
        let sum = out
            .iter()
            .fold([0.0f32; 2], |s, p| [s[0] + p[0], s[1] + p[1]]);
        assert!((sum[0] - 50.0).abs() < 1e-3 && (sum[1] - 100.0).abs() < 1e-3);
        assert_eq!(out.last().unwrap()[3], 1.0);
        assert_eq!(out[0], steps[0]);
    }

    #[test]
    fn sampling_is_repeatable_per_seed_and_batch_independent() {
        let device = Device::flex();
        let net = GeneratorConfig {
            classes: 3,
            hidden: 16,
            mixtures: 3,
            max_len: 20,
        };
        device.seed(1);
        let model = net.init(&device);
        let a = sample(&model, &net, &[(1, 5)], 0.5, 20, &device);
        let b = sample(&model, &net, &[(0, 9), (1, 5), (2, 1)], 0.5, 20, &device);
        assert_eq!(a[0], b[1]);
        let c = sample(&model, &net, &[(1, 6)], 0.5, 20, &device);
        assert_ne!(a[0], c[0]);
        assert!(a[0].len() <= 20);
    }

    #[test]
    fn loss_falls_when_training_on_a_shape() {
        let device = Device::flex().autodiff();
        let square = |k: u64| Sequence {
            label: 0,
            key_id: k,
            steps: lines_to_stroke5(&[vec![
                [0.0, 0.0],
                [10.0, 0.0],
                [10.0, 10.0],
                [0.0, 10.0],
                [0.0, 0.0],
            ]])
            .unwrap(),
        };
        let data: Vec<Sequence> = (0..32).map(square).collect();
        let config = GeneratorTrainConfig {
            epochs: 30,
            batch_size: 16,
            learning_rate: 5e-3,
            hidden: 32,
            mixtures: 2,
            augment: GeneratorAugment {
                scale: 0.0,
                point_dropout: 0.0,
            },
            ..GeneratorTrainConfig::default()
        };
        let trained =
            train_generator(1, &data, &data, &config, &device, |_, _| Control::Continue).unwrap();
        let first = trained.history.first().unwrap().train_loss;
        let last = trained.history.last().unwrap().test_loss.unwrap();
        assert!(last < first - 1.0, "loss {first} -> {last}");
    }
}
