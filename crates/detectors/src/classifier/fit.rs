//! Training a [`Net`]: weighted logistic loss with L2, minibatch Adam, seeded shuffling and
//! initialisation, single-threaded arithmetic in a fixed order — the same data and seed give the
//! same weights, bit for bit.

use emmental_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use super::head::{Dense, Net, dot, sigmoid};

/// Training settings of one head.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hyper {
    /// Hidden units; 0 is logistic regression.
    pub hidden: usize,
    /// L2 penalty on the weights (not the biases), per unit of sample weight.
    pub l2: f32,
    pub epochs: usize,
    /// Adam's step size at the start; it decays linearly to zero.
    pub lr: f32,
    pub batch: usize,
    /// Networks trained from different seeds whose logits are averaged (1: a single one).
    /// Averaging steadies the verdict on inputs far from the training data.
    #[serde(default = "one")]
    pub members: usize,
}

fn one() -> usize {
    1
}

/// Trains `hyper.members` networks, member `m` with seed `seed + m · 1,000,003`.
pub fn fit_members(x: &[Vec<f32>], y: &[bool], w: &[f32], hyper: &Hyper, seed: u64) -> Vec<Net> {
    (0..hyper.members.max(1))
        .map(|m| fit(x, y, w, hyper, seed.wrapping_add(m as u64 * 1_000_003)))
        .collect()
}

/// The ensemble's logit: the mean of its members' logits.
pub fn mean_logit(nets: &[Net], x: &[f32]) -> f32 {
    nets.iter().map(|n| n.logit(x)).sum::<f32>() / nets.len().max(1) as f32
}

/// Mean and scale (standard deviation, floored) of each feature, in f64 for stability.
fn standardisation(x: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let d = x.first().map_or(0, Vec::len);
    let n = x.len().max(1) as f64;
    let mut mean = vec![0f64; d];
    for row in x {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f64; d];
    for row in x {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            let d = f64::from(*v) - m;
            *s += d * d;
        }
    }
    let scale = var
        .iter()
        .map(|v| ((v / n).sqrt()).max(1e-4) as f32)
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), scale)
}

/// A standard normal deviate (Box–Muller) from the project's pinned generator.
fn normal(rng: &mut SplitMix64) -> f32 {
    let u1 = rng.next_f64().max(1e-300);
    let u2 = rng.next_f64();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        for i in 0..params.len() {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * grad[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * grad[i] * grad[i];
            params[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + EPS);
        }
    }
}

/// Trains a network on rows `x` with labels `y` and per-row weights `w` (class balance and
/// source weighting are the caller's choice).
pub fn fit(x: &[Vec<f32>], y: &[bool], w: &[f32], hyper: &Hyper, seed: u64) -> Net {
    assert!(
        x.len() == y.len() && y.len() == w.len(),
        "one label and weight per row"
    );
    let d = x.first().map_or(0, Vec::len);
    let (mean, scale) = standardisation(x);
    let z: Vec<Vec<f32>> = x
        .iter()
        .map(|r| {
            r.iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((v, m), s)| (v - m) / s)
                .collect()
        })
        .collect();
    let mut rng = SplitMix64::new(seed);
    let h = hyper.hidden;
    let mut hidden = (h > 0).then(|| {
        let mut l = Dense::zeros(d, h);
        let sd = (2.0 / d.max(1) as f32).sqrt();
        l.weights
            .iter_mut()
            .for_each(|v| *v = sd * normal(&mut rng));
        l
    });
    let out_in = if h > 0 { h } else { d };
    let mut output = Dense::zeros(out_in, 1);
    if h > 0 {
        let sd = (1.0 / h as f32).sqrt();
        output
            .weights
            .iter_mut()
            .for_each(|v| *v = sd * normal(&mut rng));
    }
    let mut adam_h = Adam::new(if h > 0 { d * h + h } else { 0 });
    let mut adam_o = Adam::new(out_in + 1);
    let n = z.len();
    let batch = hyper.batch.max(1);
    let steps_total = (hyper.epochs * n.div_ceil(batch)).max(1);
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0usize;
    // Gradients, reused across steps.
    let mut g_h = vec![0f32; if h > 0 { d * h + h } else { 0 }];
    let mut g_o = vec![0f32; out_in + 1];
    let mut act = vec![0f32; h];
    for _ in 0..hyper.epochs {
        // Fisher–Yates with the seeded generator.
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for chunk in order.chunks(batch) {
            g_h.iter_mut().for_each(|g| *g = 0.0);
            g_o.iter_mut().for_each(|g| *g = 0.0);
            let wsum: f32 = chunk.iter().map(|&i| w[i]).sum::<f32>().max(1e-12);
            for &i in chunk {
                let xi = &z[i];
                let target = if y[i] { 1.0 } else { 0.0 };
                match &hidden {
                    Some(hl) => {
                        for (u, a) in act.iter_mut().enumerate() {
                            *a = (hl.bias[u] + dot(&hl.weights[u * d..(u + 1) * d], xi)).max(0.0);
                        }
                        let logit = output.bias[0] + dot(&output.weights, &act);
                        let dz = w[i] * (sigmoid(logit) - target) / wsum;
                        for u in 0..h {
                            g_o[u] += dz * act[u];
                            if act[u] > 0.0 {
                                let du = dz * output.weights[u];
                                let row = &mut g_h[u * d..(u + 1) * d];
                                for (g, v) in row.iter_mut().zip(xi) {
                                    *g += du * v;
                                }
                                g_h[d * h + u] += du;
                            }
                        }
                        g_o[out_in] += dz;
                    }
                    None => {
                        let logit = output.bias[0] + dot(&output.weights, xi);
                        let dz = w[i] * (sigmoid(logit) - target) / wsum;
                        for (g, v) in g_o[..d].iter_mut().zip(xi) {
                            *g += dz * v;
                        }
                        g_o[d] += dz;
                    }
                }
            }
            // L2 on weights, scaled so that the penalty per epoch does not depend on batch size.
            let l2 = hyper.l2 * chunk.len() as f32 / n as f32;
            for (g, p) in g_o[..out_in].iter_mut().zip(&output.weights) {
                *g += l2 * p;
            }
            let lr = hyper.lr * (1.0 - step as f32 / steps_total as f32);
            step += 1;
            if let Some(hl) = hidden.as_mut() {
                for (g, p) in g_h[..d * h].iter_mut().zip(&hl.weights) {
                    *g += l2 * p;
                }
                let mut params: Vec<f32> = hl.weights.iter().chain(&hl.bias).copied().collect();
                adam_h.step(&mut params, &g_h, lr);
                hl.weights.copy_from_slice(&params[..d * h]);
                hl.bias.copy_from_slice(&params[d * h..]);
            }
            let mut params: Vec<f32> = output.weights.iter().chain(&output.bias).copied().collect();
            adam_o.step(&mut params, &g_o, lr);
            output.weights.copy_from_slice(&params[..out_in]);
            output.bias.copy_from_slice(&params[out_in..]);
        }
    }
    Net {
        mean,
        scale,
        hidden,
        output,
    }
}

/// Per-row weights that give both classes equal total weight.
pub fn balanced_weights(y: &[bool]) -> Vec<f32> {
    let pos = y.iter().filter(|v| **v).count().max(1) as f32;
    let neg = (y.len() - y.iter().filter(|v| **v).count()).max(1) as f32;
    let n = y.len() as f32;
    y.iter()
        .map(|v| if *v { n / (2.0 * pos) } else { n / (2.0 * neg) })
        .collect()
}

/// Out-of-fold probabilities: row `i` is predicted by a network trained without fold
/// `folds[i]`. Rows sharing a split key must share a fold (the caller assigns folds by key).
pub fn cross_validate(
    x: &[Vec<f32>],
    y: &[bool],
    w: &[f32],
    folds: &[usize],
    hyper: &Hyper,
    seed: u64,
) -> Vec<f32> {
    let k = folds.iter().copied().max().map_or(0, |m| m + 1);
    let mut out = vec![f32::NAN; x.len()];
    for f in 0..k {
        let train: Vec<usize> = (0..x.len()).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..x.len()).filter(|&i| folds[i] == f).collect();
        if test.is_empty() {
            continue;
        }
        let tx: Vec<Vec<f32>> = train.iter().map(|&i| x[i].clone()).collect();
        let ty: Vec<bool> = train.iter().map(|&i| y[i]).collect();
        let tw: Vec<f32> = train.iter().map(|&i| w[i]).collect();
        let nets = fit_members(&tx, &ty, &tw, hyper, seed.wrapping_add(f as u64));
        for &i in &test {
            out[i] = sigmoid(mean_logit(&nets, &x[i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two Gaussian blobs in 5 dimensions, separable along dimension 0; and an XOR set that a
    /// linear model cannot separate.
    fn blobs(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<bool>) {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|i| {
                let y = i % 2 == 0;
                let mut x: Vec<f32> = (0..5).map(|_| normal(&mut rng)).collect();
                x[0] += if y { 2.0 } else { -2.0 };
                (x, y)
            })
            .unzip()
    }

    fn accuracy(net: &Net, x: &[Vec<f32>], y: &[bool]) -> f64 {
        let ok = x
            .iter()
            .zip(y)
            .filter(|(x, y)| (net.probability(x) >= 0.5) == **y)
            .count();
        ok as f64 / y.len() as f64
    }

    const LOGISTIC: Hyper = Hyper {
        hidden: 0,
        l2: 1e-3,
        epochs: 30,
        lr: 0.05,
        batch: 16,
        members: 1,
    };

    #[test]
    fn logistic_regression_learns_a_separable_problem() {
        let (x, y) = blobs(400, 1);
        let net = fit(&x, &y, &balanced_weights(&y), &LOGISTIC, 7);
        let (tx, ty) = blobs(400, 2);
        assert!(accuracy(&net, &tx, &ty) > 0.95);
        assert!(
            net.output.weights[0] > 1.0,
            "dimension 0 carries the signal"
        );
    }

    #[test]
    fn hidden_layer_learns_xor_where_logistic_regression_cannot() {
        let mut rng = SplitMix64::new(3);
        let (x, y): (Vec<Vec<f32>>, Vec<bool>) = (0..600)
            .map(|_| {
                let a = normal(&mut rng);
                let b = normal(&mut rng);
                (vec![a, b], (a > 0.0) != (b > 0.0))
            })
            .unzip();
        let w = balanced_weights(&y);
        let lin = fit(&x, &y, &w, &LOGISTIC, 1);
        let mlp = fit(
            &x,
            &y,
            &w,
            &Hyper {
                hidden: 16,
                epochs: 80,
                lr: 0.02,
                ..LOGISTIC
            },
            1,
        );
        assert!(accuracy(&lin, &x, &y) < 0.7);
        assert!(accuracy(&mlp, &x, &y) > 0.9);
    }

    #[test]
    fn same_seed_same_weights_other_seed_other_weights() {
        let (x, y) = blobs(200, 4);
        let w = balanced_weights(&y);
        let h = Hyper {
            hidden: 4,
            ..LOGISTIC
        };
        let a = fit(&x, &y, &w, &h, 11);
        let b = fit(&x, &y, &w, &h, 11);
        let c = fit(&x, &y, &w, &h, 12);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_ne!(a, c);
        let two = fit_members(&x, &y, &w, &Hyper { members: 2, ..h }, 11);
        assert_eq!(two[0], a, "the first member uses the seed itself");
        assert_ne!(two[0], two[1]);
        let z = mean_logit(&two, &x[0]);
        assert!((z - 0.5 * (two[0].logit(&x[0]) + two[1].logit(&x[0]))).abs() < 1e-6);
    }

    #[test]
    fn cross_validation_predicts_every_row_out_of_fold() {
        let (x, y) = blobs(100, 5);
        let folds: Vec<usize> = (0..100).map(|i| i % 5).collect();
        let p = cross_validate(&x, &y, &balanced_weights(&y), &folds, &LOGISTIC, 1);
        assert!(p.iter().all(|v| v.is_finite()));
        let ok = p
            .iter()
            .zip(&y)
            .filter(|(p, y)| (**p >= 0.5) == **y)
            .count();
        assert!(ok > 90, "{ok}");
    }

    #[test]
    fn balanced_weights_equalise_classes() {
        let y = [true, false, false, false];
        let w = balanced_weights(&y);
        assert!((w[0] - 3.0 * w[1]).abs() < 1e-6);
        assert!((w.iter().sum::<f32>() - 4.0).abs() < 1e-5);
    }
}
