//! Reference drawings made procedurally (not data): inputs for the benchmark and the
//! parity check when no evaluation data is loaded. Coordinates in a 0..=255 box, y down,
//! like Quick, Draw!'s simplified drawings.

use std::f32::consts::TAU;

use inkset_model::raster::Polyline;

fn ring(n: usize, f: impl Fn(f32) -> [f32; 2]) -> Polyline {
    (0..=n).map(|i| f(i as f32 / n as f32)).collect()
}

/// A circle, a square, a triangle, a line and a heart, one stroke each.
pub fn reference() -> Vec<Vec<Polyline>> {
    let circle = ring(48, |u| {
        [
            128.0 + 100.0 * (u * TAU).cos(),
            128.0 + 100.0 * (u * TAU).sin(),
        ]
    });
    let square = vec![
        [28.0, 28.0],
        [228.0, 28.0],
        [228.0, 228.0],
        [28.0, 228.0],
        [28.0, 28.0],
    ];
    let triangle = vec![[128.0, 20.0], [236.0, 220.0], [20.0, 220.0], [128.0, 20.0]];
    let line = vec![[20.0, 200.0], [236.0, 56.0]];
    // The classic heart curve x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t.
    let heart = ring(64, |u| {
        let t = u * TAU;
        let x = 16.0 * t.sin().powi(3);
        let y = 13.0 * t.cos() - 5.0 * (2.0 * t).cos() - 2.0 * (3.0 * t).cos() - (4.0 * t).cos();
        [128.0 + 6.5 * x, 128.0 - 6.5 * y]
    });
    vec![
        vec![circle],
        vec![square],
        vec![triangle],
        vec![line],
        vec![heart],
    ]
}
