//! The statistics behind every number: proportions with Wilson intervals, a Clopper–Pearson
//! bound when no event was seen, bootstrap intervals for means, and paired comparisons.
//!
//! "0 of 300 failed" does not mean "never fails": it means the failure rate is below 1.0% with
//! 95% confidence ([`zero_events_upper_bound`]), and every report says so.

use serde::{Deserialize, Serialize};

/// The confidence level used throughout unless a caller asks otherwise.
pub const CONFIDENCE: f64 = 0.95;

/// How an interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// Wilson score interval with continuity correction, for a proportion.
    Wilson,
    /// One-sided Clopper–Pearson upper bound (no event seen: the lower end is 0).
    ClopperPearsonUpper,
    /// One-sided Clopper–Pearson lower bound (every trial was an event: the upper end is 1).
    ClopperPearsonLower,
    /// Percentile bootstrap over samples.
    Bootstrap,
    /// No interval (no data).
    None,
}

/// A value with its uncertainty: every rate and mean Emmental reports is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Number of (aggregated) samples behind the value.
    pub n: usize,
    pub confidence: f64,
    pub method: IntervalMethod,
}

impl Estimate {
    /// No data: value and interval are NaN, `n` is 0.
    pub fn empty() -> Self {
        Self {
            value: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            n: 0,
            confidence: CONFIDENCE,
            method: IntervalMethod::None,
        }
    }

    /// A proportion `k / n` with the continuity-corrected Wilson interval, or a one-sided
    /// Clopper–Pearson bound when `k` is 0 or `n` ("none seen in n" is a bound, not a range).
    pub fn proportion(k: usize, n: usize) -> Self {
        Self::proportion_at(k, n, CONFIDENCE)
    }

    pub fn proportion_at(k: usize, n: usize, confidence: f64) -> Self {
        assert!(k <= n, "more events ({k}) than trials ({n})");
        if n == 0 {
            return Self::empty();
        }
        let value = k as f64 / n as f64;
        let (ci_low, ci_high, method) = if k == 0 {
            (
                0.0,
                zero_events_upper_bound(n, confidence),
                IntervalMethod::ClopperPearsonUpper,
            )
        } else if k == n {
            (
                1.0 - zero_events_upper_bound(n, confidence),
                1.0,
                IntervalMethod::ClopperPearsonLower,
            )
        } else {
            let (lo, hi) = wilson_cc(k, n, confidence);
            (lo, hi, IntervalMethod::Wilson)
        };
        Self {
            value,
            ci_low,
            ci_high,
            n,
            confidence,
            method,
        }
    }

    /// One plain sentence saying what the estimate means, e.g. "harmful compliance rate: none of
    /// 300 samples; below 1.0% with 95% confidence".
    pub fn sentence(&self, meaning: &str) -> String {
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        let conf = format!("{:.0}%", 100.0 * self.confidence);
        match self.method {
            IntervalMethod::None => {
                format!("{meaning}: no sample was scored, so nothing can be said")
            }
            IntervalMethod::ClopperPearsonUpper => {
                format!(
                    "{meaning}: none of {} samples; below {} with {conf} confidence",
                    self.n,
                    pct(self.ci_high)
                )
            }
            IntervalMethod::ClopperPearsonLower => {
                format!(
                    "{meaning}: all {} samples; above {} with {conf} confidence",
                    self.n,
                    pct(self.ci_low)
                )
            }
            _ => format!(
                "{meaning}: {} of {} samples; between {} and {} with {conf} confidence",
                pct(self.value),
                self.n,
                pct(self.ci_low),
                pct(self.ci_high)
            ),
        }
    }
}

/// Standard normal quantile (Acklam's rational approximation; relative error below 1.2e-9,
/// far below what any interval here needs).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "quantile of {p}");
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p_low = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < p_low {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// Two-sided Wilson score interval for `k` events in `n` trials.
pub fn wilson(k: usize, n: usize, confidence: f64) -> (f64, f64) {
    assert!(n > 0 && k <= n);
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Wilson score interval with continuity correction (Newcombe 1998, method 4). Plain Wilson
/// undercovers at many rates (e.g. 92.5% at n = 20, p = 0.05); the corrected interval keeps
/// coverage at or above the nominal level almost everywhere, at the price of being a little wider.
pub fn wilson_cc(k: usize, n: usize, confidence: f64) -> (f64, f64) {
    assert!(n > 0 && k <= n);
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (kf, nf) = (k as f64, n as f64);
    let p = kf / nf;
    let q = 1.0 - p;
    let z2 = z * z;
    let denom = 2.0 * (nf + z2);
    let lo = if k == 0 {
        0.0
    } else {
        (2.0 * nf * p + z2
            - 1.0
            - z * (z2 - 2.0 - 1.0 / nf + 4.0 * p * (nf * q + 1.0))
                .max(0.0)
                .sqrt())
            / denom
    };
    let hi = if k == n {
        1.0
    } else {
        (2.0 * nf * p
            + z2
            + 1.0
            + z * (z2 + 2.0 - 1.0 / nf + 4.0 * p * (nf * q - 1.0))
                .max(0.0)
                .sqrt())
            / denom
    };
    (lo.max(0.0), hi.min(1.0))
}

/// One-sided upper confidence bound on the rate when 0 events were seen in `n` trials
/// (Clopper–Pearson, exact): `1 - (1 - confidence)^(1/n)`. For 95%: 300 trials → 0.995%.
pub fn zero_events_upper_bound(n: usize, confidence: f64) -> f64 {
    assert!(n > 0);
    1.0 - (1.0 - confidence).powf(1.0 / n as f64)
}

/// Two-sided exact (Clopper–Pearson) interval for `k` events in `n` trials.
pub fn clopper_pearson(k: usize, n: usize, confidence: f64) -> (f64, f64) {
    assert!(n > 0 && k <= n);
    let alpha = 1.0 - confidence;
    let (k, nf) = (k as f64, n as f64);
    let lo = if k == 0.0 {
        0.0
    } else {
        beta_quantile(alpha / 2.0, k, nf - k + 1.0)
    };
    let hi = if k == nf {
        1.0
    } else {
        beta_quantile(1.0 - alpha / 2.0, k + 1.0, nf - k)
    };
    (lo, hi)
}

/// Quantile of the Beta(a, b) distribution, by bisection on the regularized incomplete beta.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if regularized_incomplete_beta(mid, a, b) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-15 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// I_x(a, b), by Lentz's continued fraction (Numerical Recipes' `betacf`).
pub fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(x, a, b) / a
    } else {
        1.0 - front * beta_cf(1.0 - x, b, a) / b
    }
}

fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.5203681218851,
        -1259.1392167224028,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507343278686905,
        -0.13857109526572012,
        9.984_369_578_019_572e-6,
        1.5056327351493116e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The resampling generator: SplitMix64, so bootstrap intervals are reproducible.
pub use crate::rng::SplitMix64 as Rng;

/// Mean with a percentile-bootstrap interval (`resamples` draws, seeded).
pub fn bootstrap_mean(values: &[f64], confidence: f64, resamples: usize, seed: u64) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate::empty();
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Estimate {
            value: mean,
            ci_low: mean,
            ci_high: mean,
            n,
            confidence,
            method: IntervalMethod::Bootstrap,
        };
    }
    let mut rng = Rng::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let at = |q: f64| means[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    Estimate {
        value: mean,
        ci_low: at(alpha / 2.0),
        ci_high: at(1.0 - alpha / 2.0),
        n,
        confidence,
        method: IntervalMethod::Bootstrap,
    }
}

/// Result of a paired comparison of two binary outcomes on the same samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Samples scored in both runs.
    pub n: usize,
    /// Success in A only / in B only (the discordant pairs McNemar looks at).
    pub a_only: usize,
    pub b_only: usize,
    /// Rate in B minus rate in A, with a 95% interval (Newcombe's method 10, built on Wilson).
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Two-sided exact McNemar p-value (binomial test on the discordant pairs).
    pub p_value: f64,
}

/// Compares paired binary outcomes (`true` = success) of runs A and B.
pub fn paired_comparison(pairs: &[(bool, bool)], confidence: f64) -> PairedComparison {
    let n = pairs.len();
    let a_only = pairs.iter().filter(|(a, b)| *a && !*b).count();
    let b_only = pairs.iter().filter(|(a, b)| !*a && *b).count();
    let both = pairs.iter().filter(|(a, b)| *a && *b).count();
    let p_value = mcnemar_exact(a_only, b_only);
    if n == 0 {
        return PairedComparison {
            n,
            a_only,
            b_only,
            difference: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            p_value,
        };
    }
    let nf = n as f64;
    let (p1, p2) = ((both + a_only) as f64 / nf, (both + b_only) as f64 / nf);
    let diff = p2 - p1;
    // Newcombe (1998) method 10 for paired proportions, with the phi correction.
    let (l1, u1) = wilson(both + a_only, n, confidence);
    let (l2, u2) = wilson(both + b_only, n, confidence);
    let neither = n - both - a_only - b_only;
    let (a, b, c, d) = (both as f64, a_only as f64, b_only as f64, neither as f64);
    let denom = ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
    let phi = if denom == 0.0 {
        0.0
    } else {
        (a * d - b * c) / denom
    };
    let lo = diff
        - ((p2 - l2).powi(2) - 2.0 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1).powi(2))
            .max(0.0)
            .sqrt();
    let hi = diff
        + ((u2 - p2).powi(2) - 2.0 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1).powi(2))
            .max(0.0)
            .sqrt();
    PairedComparison {
        n,
        a_only,
        b_only,
        difference: diff,
        ci_low: lo.max(-1.0),
        ci_high: hi.min(1.0),
        p_value,
    }
}

/// Two-sided exact McNemar test: P(at least as extreme) under Binomial(b + c, 1/2).
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let m = b + c;
    if m == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln C(m, i) - m ln 2, summed in log space for large m.
    let ln_half_m = m as f64 * std::f64::consts::LN_2;
    let tail: f64 = (0..=k)
        .map(|i| {
            (ln_gamma(m as f64 + 1.0)
                - ln_gamma(i as f64 + 1.0)
                - ln_gamma((m - i) as f64 + 1.0)
                - ln_half_m)
                .exp()
        })
        .sum();
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_quantiles_match_tables() {
        assert!(close(normal_quantile(0.975), 1.959963984540054, 1e-8));
        assert!(close(normal_quantile(0.001), -3.090232306167813, 1e-8));
        assert!(close(normal_quantile(0.5), 0.0, 1e-12));
        assert!(close(normal_quantile(0.995), 2.5758293035489, 1e-8));
        assert!(close(normal_quantile(0.01), -2.326347874040841, 1e-8));
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), Table I: 81/263 → 0.2553 to 0.3662; 15/148 → 0.0624 to 0.1605.
        let (lo, hi) = wilson(81, 263, 0.95);
        assert!(
            close(lo, 0.2553, 5e-4) && close(hi, 0.3662, 5e-4),
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(15, 148, 0.95);
        assert!(
            close(lo, 0.0624, 5e-4) && close(hi, 0.1605, 5e-4),
            "{lo} {hi}"
        );
        // Agresti & Coull (1998): 1/10 → 0.0179 to 0.4042.
        let (lo, hi) = wilson(1, 10, 0.95);
        assert!(
            close(lo, 0.0179, 5e-4) && close(hi, 0.4042, 5e-4),
            "{lo} {hi}"
        );
    }

    #[test]
    fn clopper_pearson_matches_published_values() {
        // Newcombe (1998), Table I: 81/263 → 0.2527 to 0.3676; 15/148 → 0.0578 to 0.1617;
        // 0/20 → 0 to 0.1684; 1/29 → 0.0009 to 0.1776.
        for (k, n, lo, hi) in [
            (81, 263, 0.2527, 0.3676),
            (15, 148, 0.0578, 0.1617),
            (0, 20, 0.0, 0.1684),
            (1, 29, 0.0009, 0.1776),
        ] {
            let (l, h) = clopper_pearson(k, n, 0.95);
            assert!(close(l, lo, 5e-4) && close(h, hi, 5e-4), "{k}/{n}: {l} {h}");
        }
    }

    #[test]
    fn continuity_corrected_wilson_matches_published_values() {
        // Newcombe (1998), Table I, method 4: 81/263 → 0.2535 to 0.3682; 15/148 → 0.0598 to 0.1644;
        // 1/29 → 0.0018 to 0.1963 (scipy-free check values, also recomputed independently).
        for (k, n, lo, hi) in [
            (81, 263, 0.2535, 0.3682),
            (15, 148, 0.0598, 0.1644),
            (1, 29, 0.0018, 0.1963),
        ] {
            let (l, h) = wilson_cc(k, n, 0.95);
            assert!(close(l, lo, 5e-4) && close(h, hi, 5e-4), "{k}/{n}: {l} {h}");
        }
        assert_eq!(
            Estimate::proportion(81, 263).ci_low,
            wilson_cc(81, 263, 0.95).0
        );
    }

    fn binomial_pmf(k: usize, n: usize, p: f64) -> f64 {
        let ln_c =
            ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0);
        (ln_c + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp()
    }

    #[test]
    fn average_coverage_over_all_rates_is_at_least_nominal() {
        // Exact, not simulated: for each n, the coverage averaged over p in (0, 1).
        for n in [10usize, 20, 50, 100, 300] {
            let intervals: Vec<Estimate> = (0..=n).map(|k| Estimate::proportion(k, n)).collect();
            let grid: Vec<f64> = (1..400).map(|i| i as f64 / 400.0).collect();
            let avg = grid
                .iter()
                .map(|&p| {
                    (0..=n)
                        .filter(|&k| intervals[k].ci_low <= p && p <= intervals[k].ci_high)
                        .map(|k| binomial_pmf(k, n, p))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / grid.len() as f64;
            assert!(avg >= 0.95, "n={n}: average coverage {avg}");
        }
    }

    #[test]
    fn zero_failures_give_the_one_sided_exact_bound() {
        // "0 of 300 failed" → below 1.0% at 95% (the rule of three says 3/300).
        let ub = zero_events_upper_bound(300, 0.95);
        assert!(close(ub, 0.00994, 1e-5), "{ub}");
        // It is the exact one-sided Clopper–Pearson bound: the 95% beta quantile.
        assert!(close(ub, beta_quantile(0.95, 1.0, 300.0), 1e-9));
        let e = Estimate::proportion(0, 300);
        assert_eq!(e.method, IntervalMethod::ClopperPearsonUpper);
        assert_eq!((e.value, e.ci_low), (0.0, 0.0));
        assert_eq!(
            e.sentence("harmful answers"),
            "harmful answers: none of 300 samples; below 1.0% with 95% confidence"
        );
        let all = Estimate::proportion(50, 50);
        assert_eq!(all.ci_high, 1.0);
        assert!(close(
            all.ci_low,
            1.0 - zero_events_upper_bound(50, 0.95),
            1e-12
        ));
    }

    #[test]
    fn intervals_cover_the_true_rate_at_least_94_percent_of_the_time() {
        let mut rng = Rng::new(2024);
        for &n in &[20usize, 50, 100, 300] {
            for &p in &[0.02f64, 0.05, 0.1, 0.3, 0.5, 0.8, 0.95] {
                let trials = 10_000;
                let covered = (0..trials)
                    .filter(|_| {
                        let k = (0..n)
                            .filter(|_| {
                                (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
                            })
                            .count();
                        let e = Estimate::proportion(k, n);
                        e.ci_low <= p && p <= e.ci_high
                    })
                    .count();
                let coverage = covered as f64 / trials as f64;
                assert!(coverage >= 0.94, "n={n} p={p}: coverage {coverage}");
            }
        }
    }

    #[test]
    fn bootstrap_mean_interval_brackets_the_mean_and_is_reproducible() {
        let v: Vec<f64> = (0..200).map(|i| (i % 7) as f64).collect();
        let a = bootstrap_mean(&v, 0.95, 2000, 1);
        let b = bootstrap_mean(&v, 0.95, 2000, 1);
        assert_eq!(a, b);
        assert!(a.ci_low < a.value && a.value < a.ci_high);
        // Standard error of the mean ≈ sd / sqrt(n) = 2 / 14.1; the 95% half-width ≈ 0.28.
        assert!(
            close(a.ci_high - a.ci_low, 2.0 * 1.96 * 2.0 / 200f64.sqrt(), 0.08),
            "{a:?}"
        );
    }

    #[test]
    fn mcnemar_matches_the_exact_binomial_test() {
        // Discordant pairs 10 vs 2: p = 2 · P(X ≤ 2 | 12, 1/2) = 0.03857 (scipy's binomtest agrees).
        assert!(close(mcnemar_exact(10, 2), 0.038574, 1e-5));
        assert!(close(mcnemar_exact(2, 10), 0.038574, 1e-5));
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
    }

    #[test]
    fn paired_difference_is_b_minus_a_and_its_interval_covers_the_truth() {
        let mut pairs = vec![(true, true); 36];
        pairs.extend(vec![(true, false); 12]);
        pairs.extend(vec![(false, true); 2]);
        pairs.extend(vec![(false, false); 6]);
        let c = paired_comparison(&pairs, 0.95);
        assert_eq!((c.n, c.a_only, c.b_only), (56, 12, 2));
        assert!(close(c.difference, (38.0 - 48.0) / 56.0, 1e-12));
        assert!(
            c.ci_low < c.difference && c.difference < c.ci_high && c.ci_high < 0.0,
            "{c:?}"
        );
        // Coverage by simulation: correlated pairs with P(A) = 0.6, P(B) = 0.7.
        let mut rng = Rng::new(99);
        let unif = |r: &mut Rng| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let trials = 3000;
        let covered = (0..trials)
            .filter(|_| {
                let pairs: Vec<(bool, bool)> = (0..80)
                    .map(|_| {
                        let u = unif(&mut rng);
                        // joint: both 0.55, A only 0.05, B only 0.15, neither 0.25
                        (u < 0.60, u < 0.55 || (0.60..0.75).contains(&u))
                    })
                    .collect();
                let c = paired_comparison(&pairs, 0.95);
                c.ci_low <= 0.1 && 0.1 <= c.ci_high
            })
            .count();
        let coverage = covered as f64 / trials as f64;
        assert!(coverage >= 0.93, "coverage {coverage}");
    }
}
