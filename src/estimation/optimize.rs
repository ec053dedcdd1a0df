//! A derivative-free maximiser: the Nelder-Mead simplex method (Nelder & Mead, "A simplex
//! method for function minimization", Computer Journal 7, 308, 1965) with the standard
//! coefficients (reflection 1, expansion 2, contraction 1/2, shrink 1/2).
//!
//! Box constraints are the caller's business: it maps unconstrained coordinates onto its
//! allowed region (e.g. with a logistic function), so the simplex can move freely. The
//! objective may be flat or negative where no key exists; callers give it a slope there.
//! Deterministic: no random restarts; callers pass their own start points.
//!
//! Must never depend on anything but the standard library.

/// Settings of one Nelder-Mead run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NelderMead {
    /// Edge length of the initial simplex (in the unconstrained coordinates).
    pub initial_step: f64,
    /// Stop after this many objective evaluations.
    pub max_evaluations: usize,
    /// Stop when the spread of objective values over the simplex is below this, relative
    /// to the best value's magnitude (plus `absolute_tolerance`).
    pub relative_tolerance: f64,
    /// Absolute part of the stopping tolerance.
    pub absolute_tolerance: f64,
}

impl Default for NelderMead {
    fn default() -> Self {
        NelderMead {
            initial_step: 0.5,
            max_evaluations: 600,
            relative_tolerance: 1e-7,
            absolute_tolerance: 1e-300,
        }
    }
}

impl NelderMead {
    /// Maximises `f` from `start`; returns the best point and its value. Non-finite
    /// objective values count as -infinity.
    pub fn maximize(&self, start: &[f64], mut f: impl FnMut(&[f64]) -> f64) -> (Vec<f64>, f64) {
        let n = start.len();
        let mut eval = |x: &[f64]| {
            let v = f(x);
            if v.is_nan() { f64::NEG_INFINITY } else { v }
        };
        if n == 0 {
            let v = eval(start);
            return (Vec::new(), v);
        }
        // Minimise g = -f.
        let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
        simplex.push((start.to_vec(), -eval(start)));
        for i in 0..n {
            let mut x = start.to_vec();
            x[i] += self.initial_step;
            let g = -eval(&x);
            simplex.push((x, g));
        }
        let mut evaluations = n + 1;
        while evaluations < self.max_evaluations {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let best = simplex[0].1;
            let worst = simplex[n].1;
            if best.is_finite()
                && worst.is_finite()
                && (worst - best).abs()
                    <= self.relative_tolerance * best.abs() + self.absolute_tolerance
            {
                break;
            }
            let mut centroid = vec![0.0; n];
            for (x, _) in &simplex[..n] {
                for (c, xi) in centroid.iter_mut().zip(x) {
                    *c += xi / n as f64;
                }
            }
            let along = |t: f64| -> Vec<f64> {
                centroid
                    .iter()
                    .zip(&simplex[n].0)
                    .map(|(c, w)| c + t * (c - w))
                    .collect()
            };
            let xr = along(1.0);
            let gr = -eval(&xr);
            evaluations += 1;
            if gr < simplex[0].1 {
                let xe = along(2.0);
                let ge = -eval(&xe);
                evaluations += 1;
                simplex[n] = if ge < gr { (xe, ge) } else { (xr, gr) };
            } else if gr < simplex[n - 1].1 {
                simplex[n] = (xr, gr);
            } else {
                let (xc, gc) = if gr < simplex[n].1 {
                    let xc = along(0.5);
                    let g = -eval(&xc);
                    (xc, g)
                } else {
                    let xc = along(-0.5);
                    let g = -eval(&xc);
                    (xc, g)
                };
                evaluations += 1;
                if gc < simplex[n].1.min(gr) {
                    simplex[n] = (xc, gc);
                } else {
                    let x0 = simplex[0].0.clone();
                    for (x, g) in simplex.iter_mut().skip(1) {
                        for (xi, bi) in x.iter_mut().zip(&x0) {
                            *xi = bi + 0.5 * (*xi - bi);
                        }
                        *g = -eval(x);
                        evaluations += 1;
                    }
                }
            }
        }
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (x, g) = simplex.swap_remove(0);
        (x, -g)
    }
}

/// The logistic function 1 / (1 + e^-u), mapping the real line onto (0, 1).
pub fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

/// Inverse of [`logistic`] for p in (0, 1) (clamped away from 0 and 1).
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_maximum_of_a_rosenbrock_valley() {
        // -(Rosenbrock) has its maximum 0 at (1, 1): a standard hard test for simplex
        // methods. Tolerance 1e-3 on the coordinates (the valley is flat along its floor).
        let nm = NelderMead {
            max_evaluations: 5000,
            relative_tolerance: 0.0,
            absolute_tolerance: 1e-20,
            ..Default::default()
        };
        let (x, v) = nm.maximize(&[-1.2, 1.0], |x| {
            -((1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2))
        });
        assert!(
            (x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3,
            "{x:?} {v}"
        );
    }

    #[test]
    fn logit_inverts_logistic() {
        for p in [0.01, 0.3, 0.5, 0.99] {
            assert!((logistic(logit(p)) - p).abs() < 1e-12);
        }
    }
}
