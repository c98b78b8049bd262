//! Token sampling: greedy, or temperature + nucleus (top-p) with a seeded generator.

pub use emmental_core::rng::SplitMix64;

/// Chooses the next token from logits.
#[derive(Debug, Clone)]
pub enum Sampler {
    Greedy,
    Random {
        temperature: f32,
        top_p: f32,
        rng: SplitMix64,
    },
}

impl Sampler {
    /// Greedy when `temperature` is unset or 0; otherwise seeded sampling (a random seed if none).
    pub fn new(temperature: Option<f32>, top_p: Option<f32>, seed: Option<u64>) -> Self {
        match temperature {
            Some(t) if t > 0.0 => Sampler::Random {
                temperature: t,
                top_p: top_p.unwrap_or(1.0),
                rng: SplitMix64::new(seed.unwrap_or_else(rand::random)),
            },
            _ => Sampler::Greedy,
        }
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        match self {
            Sampler::Greedy => argmax(logits),
            Sampler::Random {
                temperature,
                top_p,
                rng,
            } => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut probs: Vec<(u32, f64)> = logits
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.is_finite())
                    .map(|(i, &l)| (i as u32, (((l - max) / *temperature) as f64).exp()))
                    .collect();
                if probs.is_empty() {
                    return argmax(logits);
                }
                // Nucleus: keep the most likely tokens whose mass reaches top_p.
                probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let total: f64 = probs.iter().map(|p| p.1).sum();
                let mut kept = 0;
                let mut mass = 0.0;
                for (_, p) in &probs {
                    mass += p / total;
                    kept += 1;
                    if mass >= *top_p as f64 {
                        break;
                    }
                }
                probs.truncate(kept);
                let kept_total: f64 = probs.iter().map(|p| p.1).sum();
                let mut r = rng.next_f64() * kept_total;
                for (id, p) in &probs {
                    if r < *p {
                        return *id;
                    }
                    r -= p;
                }
                probs.last().map(|p| p.0).unwrap_or(0)
            }
        }
    }
}

/// Index of the largest finite logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_largest_logit() {
        assert_eq!(Sampler::new(None, None, None).sample(&[0.1, 3.0, -1.0]), 1);
        assert_eq!(
            Sampler::new(Some(0.0), None, Some(1)).sample(&[5.0, 3.0]),
            0
        );
    }

    #[test]
    fn same_seed_gives_same_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let draw = |seed| {
            let mut s = Sampler::new(Some(1.0), Some(0.95), Some(seed));
            (0..20).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn tiny_top_p_keeps_only_the_best_token() {
        let mut s = Sampler::new(Some(1.0), Some(1e-6), Some(3));
        for _ in 0..20 {
            assert_eq!(s.sample(&[0.0, 2.0, 1.0]), 1);
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // p = softmax([ln 3, 0]) = [0.75, 0.25]
        let mut s = Sampler::new(Some(1.0), None, Some(42));
        let n = 20_000;
        let zeros = (0..n).filter(|_| s.sample(&[3f32.ln(), 0.0]) == 0).count();
        let p = zeros as f64 / n as f64;
        assert!((p - 0.75).abs() < 0.015, "p = {p}");
    }
}
