//! Validation figures for detectors, each with its interval: accuracy, per-class precision,
//! recall and F1, a confusion matrix for classifiers; per-type span precision, recall and F1 for
//! span detectors.
//!
//! Precision and recall are proportions, so they get the same continuity-corrected Wilson
//! interval (or one-sided Clopper–Pearson bound) as every other rate in Emmental. F1 is not a
//! proportion: its interval is a percentile bootstrap over items (texts or documents).
//!
//! A gold span counts as found when predictions of its type cover at least half of its
//! characters; a predicted span counts as correct when at least half of its characters lie in
//! gold spans of its type. Type names are compared after [`canonical_type`] (`GPE` and
//! `LOCATION` are one type).

use std::collections::BTreeMap;

use emmental_core::Estimate;
use emmental_core::rng::SplitMix64;
use emmental_core::stats::CONFIDENCE;
use serde::Serialize;

use crate::Span;

/// Bootstrap resamples for F1 intervals.
const RESAMPLES: usize = 1000;
const SEED: u64 = 0x0de7_ec70;

/// Precision, recall and F1 of one class or entity type.
#[derive(Debug, Clone, Serialize)]
pub struct Prf {
    pub precision: Estimate,
    pub recall: Estimate,
    pub f1: Estimate,
    /// Gold items of this class (support).
    pub support: usize,
    /// Predicted items of this class.
    pub predicted: usize,
}

/// Classifier validation: accuracy, per-class figures and the confusion matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ClassificationReport {
    pub n: usize,
    pub accuracy: Estimate,
    /// The class whose precision/recall/F1 the headline reports, if the task has one.
    pub positive: Option<String>,
    pub classes: BTreeMap<String, Prf>,
    /// `confusion[gold][predicted]` = count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

fn f1_of(tp: usize, n_pred: usize, n_gold: usize) -> f64 {
    if n_pred + n_gold == 0 {
        return f64::NAN;
    }
    2.0 * tp as f64 / (n_pred + n_gold) as f64
}

/// A percentile bootstrap interval of a statistic computed from per-item count vectors.
/// `items[i]` holds item i's contribution `(tp, predicted, gold)`; F1 is computed on sums.
fn f1_estimate(items: &[(usize, usize, usize)]) -> Estimate {
    let (tp, p, g) = sum3(items.iter().copied());
    let value = f1_of(tp, p, g);
    if items.is_empty() || value.is_nan() {
        return Estimate::empty();
    }
    let mut rng = SplitMix64::new(SEED);
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (tp, p, g) = sum3((0..items.len()).map(|_| items[rng.below(items.len())]));
            f1_of(tp, p, g)
        })
        .filter(|v| !v.is_nan())
        .collect();
    stats.sort_by(f64::total_cmp);
    let q = |p: f64| stats[((p * (stats.len() - 1) as f64).round() as usize).min(stats.len() - 1)];
    let alpha = (1.0 - CONFIDENCE) / 2.0;
    Estimate {
        value,
        ci_low: q(alpha).min(value),
        ci_high: q(1.0 - alpha).max(value),
        n: items.len(),
        confidence: CONFIDENCE,
        method: emmental_core::stats::IntervalMethod::Bootstrap,
    }
}

fn sum3(it: impl Iterator<Item = (usize, usize, usize)>) -> (usize, usize, usize) {
    it.fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

impl ClassificationReport {
    /// Compares predicted labels with gold labels (same order, same length).
    pub fn compute(gold: &[String], predicted: &[String], positive: Option<&str>) -> Self {
        assert_eq!(gold.len(), predicted.len(), "one prediction per gold label");
        let n = gold.len();
        let correct = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (g, p) in gold.iter().zip(predicted) {
            *confusion
                .entry(g.clone())
                .or_default()
                .entry(p.clone())
                .or_default() += 1;
        }
        let mut labels: Vec<&String> = gold.iter().chain(predicted).collect();
        labels.sort();
        labels.dedup();
        let classes = labels
            .into_iter()
            .map(|c| {
                let items: Vec<(usize, usize, usize)> = gold
                    .iter()
                    .zip(predicted)
                    .map(|(g, p)| {
                        (
                            usize::from(g == c && p == c),
                            usize::from(p == c),
                            usize::from(g == c),
                        )
                    })
                    .collect();
                let (tp, np, ng) = sum3(items.iter().copied());
                let prf = Prf {
                    precision: Estimate::proportion(tp, np),
                    recall: Estimate::proportion(tp, ng),
                    f1: f1_estimate(&items),
                    support: ng,
                    predicted: np,
                };
                (c.clone(), prf)
            })
            .collect();
        Self {
            n,
            accuracy: Estimate::proportion(correct, n),
            positive: positive.map(str::to_string),
            classes,
            confusion,
        }
    }

    /// The headline class figures: the positive class, or none.
    pub fn headline(&self) -> Option<&Prf> {
        self.positive.as_ref().and_then(|p| self.classes.get(p))
    }

    /// The JSON the CLI prints: the flat fields first, the detail after.
    pub fn to_json(&self, detector: &str) -> serde_json::Value {
        let h = self.headline();
        serde_json::json!({
            "detector": detector,
            "n": self.n,
            "accuracy": self.accuracy.value,
            "ci_low": self.accuracy.ci_low,
            "ci_high": self.accuracy.ci_high,
            "positive": self.positive,
            "precision": h.map(|h| h.precision.value),
            "recall": h.map(|h| h.recall.value),
            "f1": h.map(|h| h.f1.value),
            "classes": self.classes,
            "confusion": self.confusion,
        })
    }
}

/// One source's rows in a labelled set ([`by_source`]).
#[derive(Debug, Clone, Serialize)]
pub struct SourceFigures {
    pub n: usize,
    /// Rows of the positive class.
    pub positives: usize,
    pub accuracy: Estimate,
    /// The share of its positive rows flagged, when it has some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<Estimate>,
    /// The share of its negative rows flagged, when it has some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_positive_rate: Option<Estimate>,
}

/// Figures per source from `(source, gold positive, predicted positive)` rows: a data set's
/// attacks and its benign prompts are usually separate sources, so its recall or
/// false-positive rate is read off directly; a source holding both classes gets both.
pub fn by_source<'a>(
    rows: impl IntoIterator<Item = (&'a str, bool, bool)>,
) -> BTreeMap<String, SourceFigures> {
    // Per source: rows, positives, positives flagged, negatives flagged.
    let mut counts: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for (source, gold, predicted) in rows {
        let c = counts.entry(source).or_default();
        c[0] += 1;
        c[1] += usize::from(gold);
        c[2] += usize::from(gold && predicted);
        c[3] += usize::from(!gold && predicted);
    }
    counts
        .into_iter()
        .map(|(source, [n, positives, caught, false_alarms])| {
            let negatives = n - positives;
            let figures = SourceFigures {
                n,
                positives,
                accuracy: Estimate::proportion(caught + negatives - false_alarms, n),
                recall: (positives > 0).then(|| Estimate::proportion(caught, positives)),
                false_positive_rate: (negatives > 0)
                    .then(|| Estimate::proportion(false_alarms, negatives)),
            };
            (source.to_string(), figures)
        })
        .collect()
}

/// The comparable name of an entity type: synonyms used by Presidio's data, its analyzer and
/// common NER tag sets map to one name.
pub fn canonical_type(t: &str) -> String {
    let up = t.trim().to_ascii_uppercase();
    match up.as_str() {
        "GPE" | "LOC" | "LOCATION" => "LOCATION",
        "PER" | "PERSON" | "NAME" => "PERSON",
        "ORG" | "ORGANIZATION" | "ORGANISATION" => "ORGANIZATION",
        "EMAIL" | "EMAIL_ADDRESS" => "EMAIL_ADDRESS",
        "PHONE" | "PHONE_NUMBER" => "PHONE_NUMBER",
        "CARD" | "CREDIT_CARD" => "CREDIT_CARD",
        "IBAN" | "IBAN_CODE" => "IBAN_CODE",
        "IP" | "IP_ADDRESS" => "IP_ADDRESS",
        "SSN" | "US_SSN" => "US_SSN",
        "ADDRESS" | "STREET_ADDRESS" => "STREET_ADDRESS",
        "DATE" | "DATE_TIME" | "DATE_OF_BIRTH" => "DATE_TIME",
        "URL" | "DOMAIN_NAME" => "URL",
        other => return other.to_string(),
    }
    .to_string()
}

/// A text with its gold spans.
#[derive(Debug, Clone)]
pub struct SpanDoc {
    pub text: String,
    pub spans: Vec<Span>,
}

/// Span detector validation: per canonical type and overall.
#[derive(Debug, Clone, Serialize)]
pub struct SpanReport {
    /// Documents measured.
    pub documents: usize,
    /// Over all types (a span must match in type too).
    pub overall: Prf,
    /// Over the types the detector can emit only: what it claims to do.
    pub supported: Option<Prf>,
    pub types: BTreeMap<String, Prf>,
    /// The documents with no gold span, and how many the detector flagged anyway.
    pub entity_free: FalseAlarms,
}

/// False alarms counted per document: of the documents with no gold span at all, those where
/// the detector reported any span (what a guard that redacts every span would change).
#[derive(Debug, Clone, Serialize)]
pub struct FalseAlarms {
    /// Documents with no gold span.
    pub documents: usize,
    /// Of those, documents with at least one reported span.
    pub flagged: usize,
    /// Spans reported on them.
    pub spans: usize,
    /// `flagged / documents`, with its interval.
    pub rate: Estimate,
}

impl FalseAlarms {
    pub fn compute(gold: &[SpanDoc], predicted: &[Vec<Span>]) -> Self {
        assert_eq!(
            gold.len(),
            predicted.len(),
            "one prediction list per document"
        );
        let (mut documents, mut flagged, mut spans) = (0, 0, 0);
        for (doc, pred) in gold.iter().zip(predicted) {
            if doc.spans.is_empty() {
                documents += 1;
                flagged += usize::from(!pred.is_empty());
                spans += pred.len();
            }
        }
        Self {
            documents,
            flagged,
            spans,
            rate: Estimate::proportion(flagged, documents),
        }
    }
}

/// Characters of `span` covered by any of `others` whose type is `kind`.
fn covered(span: &Span, others: &[Span], kind: &str) -> usize {
    let mut ranges: Vec<(usize, usize)> = others
        .iter()
        .filter(|o| canonical_type(&o.kind) == kind)
        .map(|o| (o.start.max(span.start), o.end.min(span.end)))
        .filter(|(s, e)| s < e)
        .collect();
    ranges.sort();
    let (mut total, mut reach) = (0, span.start);
    for (s, e) in ranges {
        let s = s.max(reach);
        if e > s {
            total += e - s;
            reach = e;
        }
    }
    total
}

impl SpanReport {
    /// Compares predicted spans with gold spans, document by document. `supported` lists the
    /// types the detector can emit (canonical or not); figures restricted to them are added.
    pub fn compute(
        gold: &[SpanDoc],
        predicted: &[Vec<Span>],
        supported: Option<&[String]>,
    ) -> Self {
        assert_eq!(
            gold.len(),
            predicted.len(),
            "one prediction list per document"
        );
        // Per document and type: (correct predictions, predictions, found golds, golds).
        let mut per_type: BTreeMap<String, Vec<[usize; 4]>> = BTreeMap::new();
        let n = gold.len();
        for (i, (doc, pred)) in gold.iter().zip(predicted).enumerate() {
            for s in &doc.spans {
                let k = canonical_type(&s.kind);
                let row = &mut per_type.entry(k.clone()).or_insert_with(|| vec![[0; 4]; n])[i];
                row[3] += 1;
                if !s.is_empty() && 2 * covered(s, pred, &k) >= s.len() {
                    row[2] += 1;
                }
            }
            for s in pred {
                let k = canonical_type(&s.kind);
                let row = &mut per_type.entry(k.clone()).or_insert_with(|| vec![[0; 4]; n])[i];
                row[1] += 1;
                if !s.is_empty() && 2 * covered(s, &doc.spans, &k) >= s.len() {
                    row[0] += 1;
                }
            }
        }
        let prf = |rows: &[[usize; 4]]| {
            let sum = rows.iter().fold([0; 4], |a, r| {
                [a[0] + r[0], a[1] + r[1], a[2] + r[2], a[3] + r[3]]
            });
            // F1 from precision and recall counted separately: correct predictions and found
            // golds are different counts when spans are split or merged.
            let (p, r) = (ratio(sum[0], sum[1]), ratio(sum[2], sum[3]));
            let f1 = bootstrap_span_f1(
                rows,
                if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                },
            );
            Prf {
                precision: Estimate::proportion(sum[0], sum[1]),
                recall: Estimate::proportion(sum[2], sum[3]),
                f1,
                support: sum[3],
                predicted: sum[1],
            }
        };
        let combine = |keep: &dyn Fn(&str) -> bool| -> Vec<[usize; 4]> {
            let mut rows = vec![[0; 4]; n];
            for (k, v) in &per_type {
                if keep(k) {
                    for (r, x) in rows.iter_mut().zip(v) {
                        for j in 0..4 {
                            r[j] += x[j];
                        }
                    }
                }
            }
            rows
        };
        let overall = prf(&combine(&|_| true));
        let supported = supported.map(|types| {
            let types: Vec<String> = types.iter().map(|t| canonical_type(t)).collect();
            prf(&combine(&|k| types.iter().any(|t| t == k)))
        });
        let types = per_type.iter().map(|(k, v)| (k.clone(), prf(v))).collect();
        Self {
            documents: n,
            overall,
            supported,
            types,
            entity_free: FalseAlarms::compute(gold, predicted),
        }
    }

    pub fn to_json(&self, detector: &str) -> serde_json::Value {
        serde_json::json!({
            "detector": detector,
            "n": self.overall.support,
            "documents": self.documents,
            "precision": self.overall.precision.value,
            "recall": self.overall.recall.value,
            "f1": self.overall.f1.value,
            "ci_low": self.overall.f1.ci_low,
            "ci_high": self.overall.f1.ci_high,
            "overall": self.overall,
            "supported_types": self.supported,
            "types": self.types,
            "entity_free": self.entity_free,
        })
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Percentile bootstrap over documents of span F1 (precision and recall counted separately).
fn bootstrap_span_f1(rows: &[[usize; 4]], value: f64) -> Estimate {
    if rows.is_empty() || rows.iter().all(|r| r[1] + r[3] == 0) {
        return Estimate::empty();
    }
    let mut rng = SplitMix64::new(SEED);
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| -> Option<f64> {
            let mut s = [0usize; 4];
            for _ in 0..rows.len() {
                let r = rows[rng.below(rows.len())];
                for j in 0..4 {
                    s[j] += r[j];
                }
            }
            // A resample with neither gold nor predicted spans says nothing about F1.
            if s[1] + s[3] == 0 {
                return None;
            }
            let (p, r) = (ratio(s[0], s[1]), ratio(s[2], s[3]));
            Some(if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            })
        })
        .collect();
    if stats.is_empty() {
        return Estimate::empty();
    }
    stats.sort_by(f64::total_cmp);
    let q = |p: f64| stats[((p * (stats.len() - 1) as f64).round() as usize).min(stats.len() - 1)];
    let alpha = (1.0 - CONFIDENCE) / 2.0;
    Estimate {
        value,
        ci_low: q(alpha).min(value),
        ci_high: q(1.0 - alpha).max(value),
        n: rows.len(),
        confidence: CONFIDENCE,
        method: emmental_core::stats::IntervalMethod::Bootstrap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_source_gives_recall_and_false_positives_of_each_source() {
        let rows = [
            ("attacks", true, true),
            ("attacks", true, false),
            ("attacks", true, true),
            ("benign", false, true),
            ("benign", false, false),
            ("mixed", true, true),
            ("mixed", false, true),
            ("mixed", false, false),
        ];
        let f = by_source(rows);
        assert_eq!(f.len(), 3);
        let a = &f["attacks"];
        assert_eq!((a.n, a.positives), (3, 3));
        assert!((a.recall.unwrap().value - 2.0 / 3.0).abs() < 1e-12);
        assert!(a.false_positive_rate.is_none());
        let b = &f["benign"];
        assert_eq!(b.false_positive_rate.unwrap().value, 0.5);
        assert!(b.recall.is_none());
        // A source of both classes: recall over its positives, false positives over its
        // negatives.
        let m = &f["mixed"];
        assert_eq!((m.recall.unwrap().value, m.recall.unwrap().n), (1.0, 1));
        let fp = m.false_positive_rate.unwrap();
        assert_eq!((fp.value, fp.n), (0.5, 2));
        assert!((m.accuracy.value - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.accuracy.n, 3);
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn classification_counts_and_intervals() {
        let gold = s(&[
            "refusal",
            "refusal",
            "compliance",
            "compliance",
            "compliance",
        ]);
        let pred = s(&[
            "refusal",
            "compliance",
            "compliance",
            "compliance",
            "refusal",
        ]);
        let r = ClassificationReport::compute(&gold, &pred, Some("refusal"));
        assert_eq!(r.n, 5);
        assert!((r.accuracy.value - 0.6).abs() < 1e-12);
        assert!(r.accuracy.ci_low < 0.6 && r.accuracy.ci_high > 0.6);
        let h = r.headline().unwrap();
        assert!((h.precision.value - 0.5).abs() < 1e-12);
        assert!((h.recall.value - 0.5).abs() < 1e-12);
        assert!((h.f1.value - 0.5).abs() < 1e-12);
        assert!(h.f1.ci_low <= 0.5 && h.f1.ci_high >= 0.5);
        assert_eq!(r.confusion["compliance"]["refusal"], 1);
        assert_eq!(r.confusion["refusal"]["compliance"], 1);
        let j = r.to_json("refusal");
        assert_eq!(j["n"], 5);
        assert_eq!(j["precision"], 0.5);
    }

    #[test]
    fn span_found_when_half_covered_and_types_are_canonical() {
        let text = "Call Anna Smith in Paris";
        let gold = SpanDoc {
            text: text.into(),
            spans: vec![
                Span::from_chars(text, 5, 15, "PERSON", 1.0),
                Span::from_chars(text, 19, 24, "GPE", 1.0),
            ],
        };
        // "Anna" covers 4 of 10 characters: not found. "Paris" as LOCATION matches GPE.
        let pred = vec![
            Span::from_chars(text, 5, 9, "PERSON", 0.9),
            Span::from_chars(text, 19, 24, "LOCATION", 0.9),
        ];
        let r = SpanReport::compute(std::slice::from_ref(&gold), &[pred], None);
        assert_eq!(r.types["PERSON"].recall.value, 0.0);
        // The short prediction lies wholly in gold: it is correct, though it found too little.
        assert_eq!(r.types["PERSON"].precision.value, 1.0);
        assert_eq!(r.types["LOCATION"].recall.value, 1.0);
        let pred = vec![Span::from_chars(text, 5, 11, "PERSON", 0.9)];
        let r = SpanReport::compute(&[gold], &[pred], Some(&s(&["PERSON"])));
        assert_eq!(r.types["PERSON"].recall.value, 1.0);
        assert_eq!(r.overall.recall.value, 0.5);
        assert_eq!(r.supported.as_ref().unwrap().recall.value, 1.0);
    }
}
