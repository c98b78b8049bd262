//! The token classification head: a small MLP (one hidden ReLU layer) over the encoder's token
//! states and the word-shape features, giving BIO tag probabilities; constrained Viterbi
//! decoding; and its training (Adam, seeded, single-threaded so the weights are reproducible
//! bit for bit).

use emmental_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// The saved head. `format` names this layout; a file of another format is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadWeights {
    pub format: String,
    /// The encoder whose states it reads, and after which layer.
    pub encoder: String,
    pub layer: usize,
    /// Width of the encoder state.
    pub state_dim: usize,
    /// Names of the shape features appended to the state (see `features::NAMES`).
    pub shape_features: Vec<String>,
    /// Tag names: `O`, then `B-TYPE`, `I-TYPE` for each type.
    pub tags: Vec<String>,
    pub hidden: usize,
    /// Inputs are standardised: `(x - mean) / scale`.
    pub input_mean: Vec<f32>,
    pub input_scale: Vec<f32>,
    /// `hidden × input`, row-major.
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    /// `tags × hidden`, row-major.
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    /// Spans whose mean tag probability is below this are dropped.
    pub threshold: f32,
    /// How these weights were made (data, seed, settings, held-out figures).
    pub record: serde_json::Value,
}

pub const FORMAT: &str = "emmental.ner-head/1";

impl HeadWeights {
    pub fn input_dim(&self) -> usize {
        self.state_dim + self.shape_features.len()
    }

    /// Checks that every array has the size the header says.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "weights format `{}`, expected `{FORMAT}`",
                self.format
            ));
        }
        let (d, h, c) = (self.input_dim(), self.hidden, self.tags.len());
        let checks = [
            ("input_mean", self.input_mean.len(), d),
            ("input_scale", self.input_scale.len(), d),
            ("w1", self.w1.len(), h * d),
            ("b1", self.b1.len(), h),
            ("w2", self.w2.len(), c * h),
            ("b2", self.b2.len(), c),
        ];
        for (name, got, want) in checks {
            if got != want {
                return Err(format!("{name} has {got} values, expected {want}"));
            }
        }
        if c == 0 || self.tags[0] != "O" {
            return Err("the first tag must be `O`".into());
        }
        if [
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.input_mean,
            &self.input_scale,
        ]
        .iter()
        .any(|v| v.iter().any(|x| !x.is_finite()))
        {
            return Err("weights hold a value that is not a finite number".into());
        }
        Ok(())
    }

    /// Tag probabilities for `n` tokens of input `x` (`n × input_dim`), `n × tags`.
    pub fn probabilities(&self, x: &[f32], n: usize) -> Vec<f32> {
        let (d, h, c) = (self.input_dim(), self.hidden, self.tags.len());
        let mut out = vec![0f32; n * c];
        let mut xs = vec![0f32; d];
        let mut hid = vec![0f32; h];
        for t in 0..n {
            for (j, v) in xs.iter_mut().enumerate() {
                *v = (x[t * d + j] - self.input_mean[j]) / self.input_scale[j];
            }
            for (k, hv) in hid.iter_mut().enumerate() {
                *hv = (dot(&self.w1[k * d..(k + 1) * d], &xs) + self.b1[k]).max(0.0);
            }
            let logits = &mut out[t * c..(t + 1) * c];
            for (k, l) in logits.iter_mut().enumerate() {
                *l = dot(&self.w2[k * h..(k + 1) * h], &hid) + self.b2[k];
            }
            softmax(logits);
        }
        out
    }
}

/// Dot product with eight independent partial sums, in a fixed order (the same result on
/// every x86-64 machine whatever the vector width the compiler picks).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// `y += a · x`
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

fn softmax(x: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in x.iter_mut() {
        *v /= s;
    }
}

/// The best tag sequence under BIO rules (an `I-X` only after `B-X` or `I-X`), maximising the
/// sum of log probabilities. `tags` are laid out as in [`HeadWeights::tags`].
pub fn viterbi(probs: &[f32], n: usize, tags: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    // Tag 0 is O; for type t, B is 1 + 2t and I is 2 + 2t.
    let allowed = |prev: Option<usize>, cur: usize| -> bool {
        if cur == 0 || !cur.is_multiple_of(2) {
            return true;
        }
        matches!(prev, Some(p) if p != 0 && p.div_ceil(2) == cur / 2)
    };
    let lp = |t: usize, k: usize| probs[t * tags + k].max(1e-12).ln();
    let mut score = vec![f32::NEG_INFINITY; n * tags];
    let mut back = vec![0usize; n * tags];
    for (k, s) in score.iter_mut().enumerate().take(tags) {
        if allowed(None, k) {
            *s = lp(0, k);
        }
    }
    for t in 1..n {
        for k in 0..tags {
            let mut best = (f32::NEG_INFINITY, 0);
            for p in 0..tags {
                let s = score[(t - 1) * tags + p];
                if s > best.0 && allowed(Some(p), k) {
                    best = (s, p);
                }
            }
            if best.0 > f32::NEG_INFINITY {
                score[t * tags + k] = best.0 + lp(t, k);
                back[t * tags + k] = best.1;
            }
        }
    }
    let mut k = (0..tags)
        .max_by(|&a, &b| score[(n - 1) * tags + a].total_cmp(&score[(n - 1) * tags + b]))
        .unwrap_or(0);
    let mut path = vec![0; n];
    for t in (0..n).rev() {
        path[t] = k;
        k = back[t * tags + k];
    }
    path
}

/// Training settings.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSettings {
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub dropout: f32,
    pub seed: u64,
}

/// Token examples: inputs (`n × dim`), gold tag per token, a weight per token.
pub struct Examples {
    pub x: Vec<f32>,
    pub y: Vec<usize>,
    pub weight: Vec<f32>,
    pub dim: usize,
}

/// Trained parameters (before they are put in a [`HeadWeights`]).
pub struct Trained {
    pub input_mean: Vec<f32>,
    pub input_scale: Vec<f32>,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    /// Mean weighted cross-entropy per epoch.
    pub losses: Vec<f32>,
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
    fn step(&mut self, p: &mut [f32], g: &[f32], lr: f32, decay: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for i in 0..p.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            let update = (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
            p[i] -= lr * (update + decay * p[i]);
        }
    }
}

/// Trains the MLP on `ex` with `tags` classes.
pub fn train(ex: &Examples, tags: usize, s: &TrainSettings) -> Trained {
    let (d, h, c) = (ex.dim, s.hidden, tags);
    let n = ex.y.len();
    assert_eq!(ex.x.len(), n * d);
    // Standardise inputs: hidden states have dimensions with very different scales.
    let mut mean = vec![0f64; d];
    for row in ex.x.chunks(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut var = vec![0f64; d];
    for row in ex.x.chunks(d) {
        for ((q, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *q += (*v as f64 - m).powi(2);
        }
    }
    let input_mean: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
    let input_scale: Vec<f32> = var
        .iter()
        .map(|q| ((q / n.max(1) as f64).sqrt() as f32).max(1e-3))
        .collect();
    let xs: Vec<f32> =
        ex.x.chunks(d)
            .flat_map(|row| {
                row.iter()
                    .zip(&input_mean)
                    .zip(&input_scale)
                    .map(|((v, m), s)| (v - m) / s)
            })
            .collect();

    let mut rng = SplitMix64::new(s.seed);
    let mut uniform = |a: f32| ((rng.next_f64() * 2.0 - 1.0) as f32) * a;
    let a1 = (6.0 / (d + h) as f32).sqrt();
    let a2 = (6.0 / (h + c) as f32).sqrt();
    let mut w1: Vec<f32> = (0..h * d).map(|_| uniform(a1)).collect();
    let mut w2: Vec<f32> = (0..c * h).map(|_| uniform(a2)).collect();
    let mut b1 = vec![0f32; h];
    let mut b2 = vec![0f32; c];
    let (mut o_w1, mut o_b1, mut o_w2, mut o_b2) = (
        Adam::new(h * d),
        Adam::new(h),
        Adam::new(c * h),
        Adam::new(c),
    );
    let mut rng = SplitMix64::new(s.seed ^ 0x005e_ed0f_ba7c);
    let mut order: Vec<usize> = (0..n).collect();
    let mut losses = Vec::with_capacity(s.epochs);
    let (mut g_w1, mut g_b1, mut g_w2, mut g_b2) = (
        vec![0f32; h * d],
        vec![0f32; h],
        vec![0f32; c * h],
        vec![0f32; c],
    );
    let mut hid = vec![0f32; h];
    let mut mask = vec![1f32; h];
    let mut d_hid = vec![0f32; h];
    let mut logits = vec![0f32; c];
    for _epoch in 0..s.epochs {
        // Fisher–Yates with the seeded source.
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let (mut loss_sum, mut weight_sum) = (0f64, 0f64);
        for batch in order.chunks(s.batch) {
            g_w1.iter_mut().for_each(|v| *v = 0.0);
            g_b1.iter_mut().for_each(|v| *v = 0.0);
            g_w2.iter_mut().for_each(|v| *v = 0.0);
            g_b2.iter_mut().for_each(|v| *v = 0.0);
            let total: f32 = batch.iter().map(|&i| ex.weight[i]).sum();
            for &i in batch {
                let x = &xs[i * d..(i + 1) * d];
                let wt = ex.weight[i] / total;
                for k in 0..h {
                    mask[k] = if rng.next_f64() < s.dropout as f64 {
                        0.0
                    } else {
                        1.0 / (1.0 - s.dropout)
                    };
                    hid[k] = (dot(&w1[k * d..(k + 1) * d], x) + b1[k]).max(0.0) * mask[k];
                }
                for k in 0..c {
                    logits[k] = dot(&w2[k * h..(k + 1) * h], &hid) + b2[k];
                }
                softmax(&mut logits);
                let y = ex.y[i];
                loss_sum += -(logits[y].max(1e-12).ln() as f64) * ex.weight[i] as f64;
                weight_sum += ex.weight[i] as f64;
                // dL/dlogit = p - onehot
                d_hid.iter_mut().for_each(|v| *v = 0.0);
                for k in 0..c {
                    let g = (logits[k] - f32::from(k == y)) * wt;
                    g_b2[k] += g;
                    axpy(&mut g_w2[k * h..(k + 1) * h], g, &hid);
                    axpy(&mut d_hid, g, &w2[k * h..(k + 1) * h]);
                }
                for k in 0..h {
                    if hid[k] > 0.0 {
                        let g = d_hid[k] * mask[k];
                        g_b1[k] += g;
                        axpy(&mut g_w1[k * d..(k + 1) * d], g, x);
                    }
                }
            }
            o_w1.step(&mut w1, &g_w1, s.learning_rate, s.weight_decay);
            o_b1.step(&mut b1, &g_b1, s.learning_rate, 0.0);
            o_w2.step(&mut w2, &g_w2, s.learning_rate, s.weight_decay);
            o_b2.step(&mut b2, &g_b2, s.learning_rate, 0.0);
        }
        losses.push((loss_sum / weight_sum.max(1e-12)) as f32);
    }
    Trained {
        input_mean,
        input_scale,
        w1,
        b1,
        w2,
        b2,
        losses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viterbi_never_starts_an_entity_with_inside() {
        // O, B-A, I-A, B-B, I-B. Token 0 prefers I-A, which is not allowed first.
        let p = [
            0.1, 0.3, 0.6, 0.0, 0.0, //
            0.1, 0.0, 0.8, 0.0, 0.1, //
            0.1, 0.0, 0.0, 0.1, 0.8, // I-B after I-A is not allowed either
        ];
        let path = viterbi(&p, 3, 5);
        assert_eq!(path[0], 1, "{path:?}");
        assert_eq!(path[1], 2);
        assert_ne!(path[2], 4);
    }

    #[test]
    fn training_learns_a_separable_problem_and_is_deterministic() {
        let mut rng = SplitMix64::new(3);
        let n = 400;
        let dim = 6;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let v: Vec<f32> = (0..dim)
                .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
                .collect();
            y.push(if v[0] > 0.3 {
                1
            } else if v[1] > 0.3 {
                2
            } else {
                0
            });
            x.extend(v);
        }
        let ex = Examples {
            x,
            y: y.clone(),
            weight: vec![1.0; n],
            dim,
        };
        let s = TrainSettings {
            hidden: 16,
            epochs: 40,
            batch: 32,
            learning_rate: 0.01,
            weight_decay: 0.0,
            dropout: 0.0,
            seed: 9,
        };
        let a = train(&ex, 3, &s);
        let b = train(&ex, 3, &s);
        assert_eq!(a.w1, b.w1, "same seed, same weights");
        assert!(a.losses.last().unwrap() < &0.2, "losses {:?}", a.losses);
        let w = HeadWeights {
            format: FORMAT.into(),
            encoder: "test".into(),
            layer: 0,
            state_dim: dim,
            shape_features: vec![],
            tags: vec!["O".into(), "B-X".into(), "I-X".into()],
            hidden: 16,
            input_mean: a.input_mean,
            input_scale: a.input_scale,
            w1: a.w1,
            b1: a.b1,
            w2: a.w2,
            b2: a.b2,
            threshold: 0.5,
            record: serde_json::Value::Null,
        };
        w.validate().unwrap();
        let p = w.probabilities(&ex.x, n);
        let correct = (0..n)
            .filter(|&t| {
                (0..3)
                    .max_by(|&i, &j| p[t * 3 + i].total_cmp(&p[t * 3 + j]))
                    .unwrap()
                    == y[t]
            })
            .count();
        assert!(correct as f64 / n as f64 > 0.95, "accuracy {correct}/{n}");
        let mut bad = w.clone();
        bad.w2.pop();
        assert!(bad.validate().unwrap_err().contains("w2"));
    }
}
