//! Single-precision matrix products for the native CPU engines ([`crate::native`],
//! [`crate::native_train`]), through the `gemm` crate (the kernels burn's `flex` backend
//! uses), built with its `x86-v4` feature so that AVX-512 hosts run 16-wide kernels
//! (selected at run time; AVX2/FMA or scalar kernels elsewhere).
//!
//! A first comparison with `matrixmultiply` (AVX2 only) on the recognizer's shapes, one
//! thread, taken with a throwaway program while a build ran beside it (so only indicative):
//! the second convolution's product (64 x 288 by 288 x 16,384) 114 -> 203 GFLOP/s, the
//! input-gradient product (288 x 64 by 64 x 16,384) 100 -> 246 GFLOP/s, but a weight-gradient
//! product with a long inner dimension (64 x 16,384 by 16,384 x 288) 166 -> 96 GFLOP/s. The
//! committed measure is `scripts/bench vs-pytorch` (BENCHMARKS.md, issue 18); it has not been
//! re-run since this change.

use ndarray::{ArrayBase, Data, DataMut, Ix2};

/// `c = alpha * a · b + beta * c`, the contract of `ndarray::linalg::general_mat_mul`.
///
/// Shapes: `a` is `[m, k]`, `b` is `[k, n]`, `c` is `[m, n]`; any strides (transposed views
/// included). Runs on the calling thread (callers split batches over rayon themselves).
/// With `beta == 0` the old contents of `c` are not read (NaN in `c` does not propagate).
///
/// # Panics
/// When the shapes do not agree.
#[allow(unsafe_code)]
pub(crate) fn mat_mul<A, B, C>(
    alpha: f32,
    a: &ArrayBase<A, Ix2>,
    b: &ArrayBase<B, Ix2>,
    beta: f32,
    c: &mut ArrayBase<C, Ix2>,
) where
    A: Data<Elem = f32>,
    B: Data<Elem = f32>,
    C: DataMut<Elem = f32>,
{
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "mat_mul: a is {m} x {k} but b has {k2} rows");
    assert_eq!(c.dim(), (m, n), "mat_mul: c must be {m} x {n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            c.mapv_inplace(|v| v * beta);
        }
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: every view's pointer is its element [0, 0] and, with its strides, addresses
    // only elements inside its own allocation for all indices below its dimensions, which
    // are checked to be (m, k), (k, n) and (m, n) above and are non-zero. `c` is borrowed
    // mutably, so it aliases neither `a` nor `b`, and a mutable ndarray view never has two
    // indices at one address. `gemm` reads `c` only when `read_dst` is true.
    // `gemm`'s own naming: dst = alpha * dst + beta * lhs · rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            beta != 0.0,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::mat_mul;
    use ndarray::{Array2, linalg::general_mat_mul};

    fn filled(rows: usize, cols: usize, seed: u32) -> Array2<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        Array2::from_shape_fn((rows, cols), |_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            #[allow(clippy::cast_precision_loss)]
            let v = (s % 2001) as f32 / 1000.0 - 1.0;
            v
        })
    }

    #[test]
    fn equals_ndarray_for_every_layout_and_scaling() {
        // The recognizer's shapes (scaled down) and odd sizes that leave kernel remainders.
        for &(m, k, n) in &[
            (32, 9, 1024),
            (64, 288, 300),
            (7, 13, 5),
            (1, 2048, 128),
            (33, 1, 17),
        ] {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            let at = filled(k, m, 3);
            let bt = filled(n, k, 4);
            for (alpha, beta) in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                let c0 = filled(m, n, 5);
                // Plain, a transposed, b transposed, and a column-major destination.
                let mut want = c0.clone();
                general_mat_mul(alpha, &a, &b, beta, &mut want);
                let mut got = c0.clone();
                mat_mul(alpha, &a, &b, beta, &mut got);
                let tol = 1e-4 * k as f32;
                let worst = (&want - &got).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
                assert!(worst <= tol, "{m}x{k}x{n} {alpha} {beta}: {worst}");

                let mut want = c0.clone();
                general_mat_mul(alpha, &at.t(), &bt.t(), beta, &mut want);
                // The destination column-major: the transpose of a standard-layout copy.
                let mut got_t = c0.t().as_standard_layout().into_owned();
                mat_mul(
                    alpha,
                    &at.t(),
                    &bt.t(),
                    beta,
                    &mut got_t.view_mut().reversed_axes(),
                );
                let got = got_t.reversed_axes();
                let worst = (&want - &got).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
                assert!(
                    worst <= tol,
                    "transposed {m}x{k}x{n} {alpha} {beta}: {worst}"
                );
            }
        }
    }

    #[test]
    fn beta_zero_ignores_the_old_destination() {
        let a = filled(4, 3, 7);
        let b = filled(3, 5, 8);
        let mut c = Array2::from_elem((4, 5), f32::NAN);
        mat_mul(1.0, &a, &b, 0.0, &mut c);
        assert!(c.iter().all(|v| v.is_finite()));
        let mut empty_k = Array2::from_elem((4, 5), 3.0);
        mat_mul(
            1.0,
            &Array2::<f32>::zeros((4, 0)),
            &Array2::<f32>::zeros((0, 5)),
            0.5,
            &mut empty_k,
        );
        assert!(empty_k.iter().all(|&v| (v - 1.5).abs() < 1e-6));
    }
}
