//! Prometheus metrics: counters and latency histograms, rendered in the text exposition format
//! at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Histogram bucket upper bounds, in seconds (0.1 ms … 60 s).
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), u64>,
    hists: BTreeMap<(&'static str, Labels), Hist>,
}

/// The guard's metrics. Names and help texts are in [`HELP`].
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Every metric with its type and help text.
pub const HELP: &[(&str, &str, &str)] = &[
    (
        "emmental_guard_requests_total",
        "counter",
        "Requests by outcome (passed, blocked, escalated, rate_limited, invalid, upstream_error).",
    ),
    (
        "emmental_guard_verdicts_total",
        "counter",
        "Layer verdicts by layer, direction and verdict.",
    ),
    (
        "emmental_guard_layer_seconds",
        "histogram",
        "Time each layer took per request, by layer and direction.",
    ),
    (
        "emmental_guard_upstream_seconds",
        "histogram",
        "Upstream latency (to the whole answer, or to the end of the stream).",
    ),
    (
        "emmental_guard_request_seconds",
        "histogram",
        "Total request latency as seen by the proxy (for a streamed answer, to its last event).",
    ),
    (
        "emmental_guard_audit_seconds",
        "histogram",
        "Time to commit a request's audit records (answers wait for it).",
    ),
    (
        "emmental_guard_anomalies_total",
        "counter",
        "Anomaly alerts by layer.",
    ),
    (
        "emmental_guard_audit_errors_total",
        "counter",
        "Audit appends that failed (the request failed with them).",
    ),
];

impl Metrics {
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        );
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *i.counters.entry(key).or_default() += 1;
    }

    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], seconds: f64) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        );
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let h = i.hists.entry(key).or_insert_with(|| Hist {
            counts: vec![0; BUCKETS.len()],
            ..Default::default()
        });
        if let Some(b) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.counts[b] += 1;
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// The value of a counter (tests and the dashboard).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.counters
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let fmt_labels = |l: &Labels, extra: Option<(&str, String)>| -> String {
            let mut parts: Vec<String> = l
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}=\"{}\"",
                        v.replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n")
                    )
                })
                .collect();
            if let Some((k, v)) = extra {
                parts.push(format!("{k}=\"{v}\""));
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", parts.join(","))
            }
        };
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if *kind == "counter" {
                for ((n, l), v) in i.counters.iter().filter(|((n, _), _)| n == name) {
                    let _ = writeln!(out, "{n}{} {v}", fmt_labels(l, None));
                }
            } else {
                for ((n, l), h) in i.hists.iter().filter(|((n, _), _)| n == name) {
                    let mut cum = 0;
                    for (b, c) in BUCKETS.iter().zip(&h.counts) {
                        cum += c;
                        let _ = writeln!(
                            out,
                            "{n}_bucket{} {cum}",
                            fmt_labels(l, Some(("le", b.to_string())))
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{n}_bucket{} {}",
                        fmt_labels(l, Some(("le", "+Inf".into()))),
                        h.count
                    );
                    let _ = writeln!(out, "{n}_sum{} {}", fmt_labels(l, None), h.sum);
                    let _ = writeln!(out, "{n}_count{} {}", fmt_labels(l, None), h.count);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.inc("emmental_guard_requests_total", &[("outcome", "passed")]);
        m.inc("emmental_guard_requests_total", &[("outcome", "passed")]);
        m.observe(
            "emmental_guard_layer_seconds",
            &[("layer", "pii"), ("direction", "input")],
            0.0003,
        );
        m.observe(
            "emmental_guard_layer_seconds",
            &[("layer", "pii"), ("direction", "input")],
            0.02,
        );
        let text = m.render();
        assert!(
            text.contains("emmental_guard_requests_total{outcome=\"passed\"} 2"),
            "{text}"
        );
        assert!(text.contains("emmental_guard_layer_seconds_bucket{layer=\"pii\",direction=\"input\",le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains(
            "emmental_guard_layer_seconds_bucket{layer=\"pii\",direction=\"input\",le=\"+Inf\"} 2"
        ));
        assert!(
            text.contains(
                "emmental_guard_layer_seconds_count{layer=\"pii\",direction=\"input\"} 2"
            )
        );
        assert_eq!(
            m.counter("emmental_guard_requests_total", &[("outcome", "passed")]),
            2
        );
    }
}
