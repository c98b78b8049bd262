//! The anomaly monitor: for each API key and layer, how often requests trip the layer, compared
//! with that key's own history.
//!
//! Two exponentially weighted moving averages of the trip indicator per (key, layer): a slow
//! baseline and a fast recent rate; until a window has filled, each is the plain mean of what
//! it has seen. An alert is raised when the recent rate exceeds the baseline by `sigmas`
//! binomial standard deviations of a rate averaged over the recent window's effective sample
//! size (the baseline rate is floored at 1% so a key that never tripped does not alert on its
//! first trip) and is at least twice the baseline. One alert per episode: the pair re-arms when
//! the recent rate falls halfway back to the baseline.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::config::AnomalyConfig;

#[derive(Debug, Clone, Default)]
struct Track {
    n: u64,
    baseline: f64,
    recent: f64,
    alerting: bool,
}

/// An account suddenly tripping a layer far more often than usual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub key_id: String,
    pub layer: String,
    /// Trip rate over the recent window.
    pub recent_rate: f64,
    /// The key's own long-run trip rate.
    pub baseline_rate: f64,
    /// The rate above which the monitor alerts.
    pub threshold: f64,
    /// Requests this key has made.
    pub requests: u64,
}

pub struct AnomalyMonitor {
    cfg: AnomalyConfig,
    slow: f64,
    fast: f64,
    tracks: Mutex<HashMap<(String, String), Track>>,
}

/// EWMA weight of the newest observation for a half-life of `h` observations.
fn alpha(h: f64) -> f64 {
    1.0 - 0.5f64.powf(1.0 / h.max(1.0))
}

impl AnomalyMonitor {
    pub fn new(cfg: AnomalyConfig) -> Self {
        Self {
            slow: alpha(cfg.baseline_half_life),
            fast: alpha(cfg.recent_half_life),
            cfg,
            tracks: Mutex::new(HashMap::new()),
        }
    }

    /// Records one request of `key_id`: for every layer it passed through, whether it tripped.
    /// Returns the alerts this request raised.
    pub fn observe<'a>(
        &self,
        key_id: &str,
        layers: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Vec<Alert> {
        if !self.cfg.enabled {
            return Vec::new();
        }
        let mut alerts = Vec::new();
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        // Effective sample size of the fast average.
        let n_eff = (2.0 - self.fast) / self.fast;
        for (layer, tripped) in layers {
            let t = tracks
                .entry((key_id.to_string(), layer.to_string()))
                .or_default();
            let x = if tripped { 1.0 } else { 0.0 };
            // The baseline is compared before it absorbs this observation.
            let base = t.baseline.max(0.01);
            let line = base + self.cfg.sigmas * (base * (1.0 - base) / n_eff).sqrt();
            t.n += 1;
            // Until a window is full, each average is the plain mean of what it has seen.
            let n = t.n as f64;
            t.recent += self.fast.max(1.0 / n) * (x - t.recent);
            t.baseline += self.slow.max(1.0 / n) * (x - t.baseline);
            if t.n < self.cfg.min_requests {
                continue;
            }
            // Both a statistical and a practical excess: at least twice the usual rate.
            if t.recent > line && t.recent >= 2.0 * base {
                if !t.alerting {
                    t.alerting = true;
                    alerts.push(Alert {
                        key_id: key_id.to_string(),
                        layer: layer.to_string(),
                        recent_rate: t.recent,
                        baseline_rate: t.baseline,
                        threshold: line,
                        requests: t.n,
                    });
                }
            } else if t.recent < base + 0.5 * (line - base) {
                // Hysteresis: re-arm only once the rate is well back down.
                t.alerting = false;
            }
        }
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor() -> AnomalyMonitor {
        AnomalyMonitor::new(AnomalyConfig::default())
    }

    #[test]
    fn a_sudden_burst_of_trips_alerts_once() {
        let m = monitor();
        // 2% background trip rate for 1000 requests: no alert.
        let mut alerts = Vec::new();
        for i in 0..1000 {
            alerts.extend(m.observe("k1", [("injection", i % 50 == 0)]));
        }
        assert!(alerts.is_empty(), "{alerts:?}");
        // Then the account starts tripping the layer on every other request.
        for i in 0..40 {
            alerts.extend(m.observe("k1", [("injection", i % 2 == 0)]));
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].layer, "injection");
        assert!(alerts[0].recent_rate > alerts[0].threshold);
        assert!(alerts[0].recent_rate >= 2.0 * alerts[0].baseline_rate);
        // A key that trips half the time from its first request is steady, not anomalous.
        for i in 0..2000 {
            assert!(
                m.observe("k2", [("injection", i % 2 == 0)]).is_empty(),
                "request {i}"
            );
        }
    }

    #[test]
    fn steady_noisy_rates_do_not_alert() {
        let m = monitor();
        let mut rng = emmental_core::rng::SplitMix64::new(7);
        let mut n = 0;
        for _ in 0..20_000 {
            n += m.observe("k", [("pii", rng.next_f64() < 0.1)]).len();
        }
        assert_eq!(n, 0, "false alerts on a steady 10% rate");
    }
}
