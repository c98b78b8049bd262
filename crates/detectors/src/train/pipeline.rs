//! The one training loop every classifier shares: embed, cross-validate the candidate feature
//! sets and hyperparameters on the training split, tune the threshold on out-of-fold
//! predictions, fit the chosen head on the whole training split, measure it on the held-out
//! split, and write the weights and the record.
//!
//! Nothing in it reads the held-out rows before the final measurement: model choice and
//! threshold come from 5-fold cross-validation inside the training split, with folds drawn by
//! the same key as the held-out split.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use emmental_core::Embedder;
use serde::Serialize;
use serde_json::{Value, json};

use super::assemble::Row;
use super::{TrainOptions, TrainReport};
use crate::classifier::embed::embed_all;
use crate::classifier::fit::{Hyper, balanced_weights, cross_validate, fit_members};
use crate::classifier::head::{
    FORMAT, FeatureSpec, Head, Vectors, WindowPools, every_window, mean_pool, nearest_window,
    opening, windows,
};
use crate::data::split_bucket;
use crate::metrics::{ClassificationReport, by_source};
use crate::{Calibration, DetectorError, Resources};

/// Cross-validation folds inside the training split.
pub const FOLDS: u64 = 5;

/// One model to try.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Candidate {
    pub name: &'static str,
    pub features: FeatureSpec,
    pub hyper: Hyper,
    /// Extra weight of the plan's hard negatives ([`Plan::hard_negative`]); 1 is none.
    pub hard_negative_weight: f32,
}

/// How the decision threshold is chosen on out-of-fold predictions.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum ThresholdRule {
    /// The threshold with the highest accuracy (ties: the one nearest 0.5).
    Accuracy,
    /// The lowest threshold whose false-positive rate on negatives from `source` (a prefix)
    /// stays at or below `max_fpr`, and on all negatives at or below `max_fpr_all`: the most
    /// recall those over-defence budgets allow.
    RecallAtFpr {
        source: &'static str,
        max_fpr: f64,
        max_fpr_all: f64,
    },
}

/// Everything detector-specific about training.
pub struct Plan {
    pub id: &'static str,
    pub positive: &'static str,
    pub negative: &'static str,
    pub candidates: Vec<Candidate>,
    pub threshold: ThresholdRule,
    /// Rows that weigh [`Candidate::hard_negative_weight`] times more than class balance
    /// gives them (rare negatives that look like positives).
    pub hard_negative: fn(&Row) -> bool,
    /// What the held-out figures are measured on, in words (goes into the calibration).
    pub heldout_data: &'static str,
    /// The command that reproduces the held-out figures.
    pub validate_command: &'static str,
    /// Named subsets of the held-out rows reported on their own: (name, source prefix); a
    /// prefix starting with `!` selects the rows whose source does not start with the rest.
    pub groups: &'static [(&'static str, &'static str)],
    /// Named groups of derived rows ([`Row::train_only`]) measured apart, by source prefix:
    /// out of fold for each candidate, and on the held-out split; never in the headline
    /// figures, which stay on the data sets' own rows.
    pub derived_groups: &'static [(&'static str, &'static str)],
    /// How the candidate is chosen: `false`, the best cross-validated objective; `true`, among
    /// the candidates within one standard error of the best objective (the error of a
    /// proportion over the measured training rows), the one most accurate out of fold on the
    /// derived rows ([`Plan::derived_groups`]): as good on the data sets' own rows as the
    /// folds can tell, and the most robust.
    pub prefer_robust: bool,
    /// The shipped head takes a long text's first window as its opening
    /// ([`FeatureSpec::opening_from_window`]) when the chosen candidate reads both: the
    /// candidates train on the first [`OPENING_CHARS`](crate::classifier::head::OPENING_CHARS)
    /// characters, and the head serves with nearly the same words, already encoded as a
    /// window, instead of a further encoder pass. The held-out figures are measured as served.
    pub opening_from_window: bool,
    /// Candidates that read the prompt train and ship with it embedded from its windows
    /// ([`FeatureSpec::prompt_from_windows`]): a prompt of more than
    /// [`WINDOW_WORDS`](crate::classifier::head::WINDOW_WORDS) words becomes the normalised
    /// mean of its windows, the vectors an input layer reading it in windows (`injection`)
    /// has already put in the shared cache.
    pub prompt_from_windows: bool,
}

/// A prepared row: normalised text and its features per candidate are built lazily.
struct Prepared {
    text: String,
    prompt: Option<String>,
}

fn normalise(s: &str) -> String {
    crate::unicode::normalize(s).text
}

fn progress_printer(what: &'static str) -> impl FnMut(usize, usize) {
    let mut last = 0usize;
    move |done, total| {
        let pct = 100 * done / total.max(1);
        if pct >= last + 10 || done == total {
            last = pct;
            eprintln!("{what}: embedded {done}/{total} texts");
        }
    }
}

/// The entries of `v` whose `mask` entry is true.
fn keep<T: Copy>(v: &[T], mask: &[bool]) -> Vec<T> {
    v.iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(x, _)| *x)
        .collect()
}

/// Accuracy of labels `p >= t` against `y`.
fn accuracy_at(p: &[f32], y: &[bool], t: f32) -> f64 {
    let ok = p.iter().zip(y).filter(|(p, y)| (**p >= t) == **y).count();
    ok as f64 / y.len().max(1) as f64
}

/// Candidate thresholds: midpoints between distinct sorted scores, clamped into (0.01, 0.99).
fn threshold_grid(p: &[f32]) -> Vec<f32> {
    let mut s: Vec<f32> = p.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f32::total_cmp);
    s.dedup();
    let mut grid: Vec<f32> = s.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    grid.push(0.5);
    grid.iter_mut().for_each(|t| *t = t.clamp(0.01, 0.99));
    grid.sort_by(f32::total_cmp);
    grid.dedup();
    grid
}

/// A threshold and what it achieves on the rows it was chosen on.
#[derive(Debug, Clone, Serialize)]
struct Chosen {
    threshold: f32,
    /// Accuracy, or recall for the recall-at-FPR rule.
    objective: f64,
    accuracy: f64,
    recall: f64,
    fpr: f64,
    /// False-positive rate on the rule's own negatives (recall-at-FPR only).
    #[serde(skip_serializing_if = "Option::is_none")]
    fpr_source: Option<f64>,
}

fn rates(p: &[f32], y: &[bool], t: f32) -> (f64, f64) {
    let (mut tp, mut pos, mut fp, mut neg) = (0usize, 0usize, 0usize, 0usize);
    for (p, y) in p.iter().zip(y) {
        if *y {
            pos += 1;
            tp += usize::from(*p >= t);
        } else {
            neg += 1;
            fp += usize::from(*p >= t);
        }
    }
    (tp as f64 / pos.max(1) as f64, fp as f64 / neg.max(1) as f64)
}

fn choose_threshold(rule: ThresholdRule, p: &[f32], y: &[bool], rows: &[&Row]) -> Chosen {
    let grid = threshold_grid(p);
    match rule {
        ThresholdRule::Accuracy => {
            let mut best: Option<(f64, f32)> = None;
            for &t in &grid {
                let a = accuracy_at(p, y, t);
                let better = match best {
                    None => true,
                    Some((ba, bt)) => {
                        a > ba + 1e-12
                            || ((a - ba).abs() <= 1e-12 && (t - 0.5).abs() < (bt - 0.5).abs())
                    }
                };
                if better {
                    best = Some((a, t));
                }
            }
            let (a, t) = best.unwrap_or((0.0, 0.5));
            let (recall, fpr) = rates(p, y, t);
            Chosen {
                threshold: t,
                objective: a,
                accuracy: a,
                recall,
                fpr,
                fpr_source: None,
            }
        }
        ThresholdRule::RecallAtFpr {
            source,
            max_fpr,
            max_fpr_all,
        } => {
            let neg: Vec<f32> = p
                .iter()
                .zip(y)
                .zip(rows)
                .filter(|((_, y), r)| !**y && r.source.starts_with(source))
                .map(|((p, _), _)| *p)
                .collect();
            let fpr_src =
                |t: f32| neg.iter().filter(|p| **p >= t).count() as f64 / neg.len().max(1) as f64;
            // Grid ascending: the first threshold within budget has the most recall.
            let t = grid
                .iter()
                .copied()
                .find(|&t| fpr_src(t) <= max_fpr && rates(p, y, t).1 <= max_fpr_all)
                .unwrap_or(0.99);
            let (recall, fpr) = rates(p, y, t);
            Chosen {
                threshold: t,
                objective: recall,
                accuracy: accuracy_at(p, y, t),
                recall,
                fpr,
                fpr_source: Some(fpr_src(t)),
            }
        }
    }
}

/// Whether a row's source is in a group given by a source prefix (`!prefix`: not under it).
pub(crate) fn in_group(source: &str, prefix: &str) -> bool {
    match prefix.strip_prefix('!') {
        Some(p) => !source.starts_with(p),
        None => source.starts_with(prefix),
    }
}

/// The candidate chosen from `tried` (each one's out-of-fold threshold choice, predictions and
/// accuracy on derived rows), by [`Plan::prefer_robust`], over `measured` rows; with the best
/// objective, the standard error allowed and the candidates within it.
fn choose_candidate(
    prefer_robust: bool,
    tried: &[(Chosen, Vec<f32>, Option<f64>)],
    measured: usize,
) -> (usize, (f64, f64, Vec<usize>)) {
    // The first of the best on ties.
    let best = (0..tried.len())
        .reduce(|b, i| {
            if tried[i].0.objective > tried[b].0.objective + 1e-9 {
                i
            } else {
                b
            }
        })
        .expect("at least one candidate");
    let top = tried[best].0.objective;
    if !prefer_robust {
        return (best, (top, 0.0, vec![best]));
    }
    let se = (top * (1.0 - top) / measured.max(1) as f64).sqrt();
    let eligible: Vec<usize> = (0..tried.len())
        .filter(|&i| tried[i].0.objective >= top - se - 1e-12)
        .collect();
    let robust = eligible
        .iter()
        .copied()
        .reduce(|b, i| {
            let (di, db) = (tried[i].2.unwrap_or(0.0), tried[b].2.unwrap_or(0.0));
            if di > db + 1e-9 { i } else { b }
        })
        .expect("the best is eligible");
    (robust, (top, se, eligible))
}

/// Row counts per source and split.
fn counts(rows: &[Row]) -> Value {
    let mut m: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for r in rows {
        if r.train_only && r.heldout() {
            // Derived rows in the held-out split are not trained on; those a plan measures
            // ([`Plan::derived_groups`]) carry their own counts in the validation.
            continue;
        }
        let e = m.entry(r.source.clone()).or_default();
        let i = usize::from(r.heldout()) * 2 + usize::from(!r.positive);
        e[i] += 1;
    }
    let total = m.values().fold([0; 4], |a, b| {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
    });
    let obj = |c: [usize; 4]| json!({"train_positive": c[0], "train_negative": c[1], "heldout_positive": c[2], "heldout_negative": c[3]});
    json!({
        "total": obj(total),
        "sources": m.into_iter().map(|(k, v)| (k, obj(v))).collect::<BTreeMap<_, _>>(),
    })
}

/// Trains per `plan` on `rows` and writes `<id>.json` and `<id>.record.json` into the out dir.
/// `extra` (e.g. baseline figures) goes into the record's validation section.
pub fn run(
    plan: &Plan,
    rows: Vec<Row>,
    opts: &TrainOptions,
    res: &Resources,
    extra: Value,
) -> Result<TrainReport, DetectorError> {
    let encoder = res.encoder(plan.id)?;
    if rows
        .iter()
        .filter(|r| !r.heldout())
        .map(|r| r.positive)
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 2
    {
        return Err(DetectorError::Load {
            detector: plan.id.to_string(),
            message:
                "the training split needs rows of both classes; is the data directory complete?"
                    .into(),
        });
    }
    let prepared: Vec<Prepared> = rows
        .iter()
        .map(|r| Prepared {
            text: normalise(&r.text),
            prompt: r.prompt.as_deref().map(normalise),
        })
        .collect();
    let uses_prompt = plan.candidates.iter().any(|c| c.features.uses_prompt());
    // Augmented rows and the project's own rows are embedded apart from the rest, so the
    // (many, slow) public texts keep their cache file when only the augmentation or the
    // project's small data sets change.
    let row_part: Vec<usize> = rows
        .iter()
        .map(|r| {
            if r.augmented() {
                1
            } else if r.authored() {
                2
            } else {
                0
            }
        })
        .collect();
    let embed_parts =
        |parts: [Vec<String>; 3]| -> Result<HashMap<String, Vec<f32>>, DetectorError> {
            let mut out = HashMap::new();
            for texts in parts {
                let part = embed_all(
                    &encoder,
                    &texts,
                    opts.embedding_cache.as_deref(),
                    &mut progress_printer(plan.id),
                )
                .map_err(|e| DetectorError::Inference {
                    detector: plan.id.to_string(),
                    message: e.to_string(),
                })?;
                for (k, v) in part {
                    out.entry(k).or_insert(v);
                }
            }
            Ok(out)
        };
    let split_parts = |per_row: &dyn Fn(&Prepared) -> Vec<String>| -> [Vec<String>; 3] {
        let mut parts = [Vec::new(), Vec::new(), Vec::new()];
        for (p, k) in prepared.iter().zip(&row_part) {
            parts[*k].extend(per_row(p));
        }
        parts
    };
    // A prompt's windows (none when it is embedded whole: short, or not asked for).
    let prompt_windows = |q: &str| -> Vec<String> {
        if plan.prompt_from_windows {
            windows(q).into_iter().map(str::to_string).collect()
        } else {
            Vec::new()
        }
    };
    let vectors = embed_parts(split_parts(&|p: &Prepared| {
        let mut v = vec![p.text.clone()];
        if let Some(q) = p.prompt.as_ref().filter(|_| uses_prompt) {
            let ws = prompt_windows(q);
            if ws.is_empty() {
                v.push(q.clone());
            } else {
                v.extend(ws);
            }
        }
        v
    }))?;
    // Each row's prompt vector: whole, or the mean of its windows.
    let prompt_means: Vec<Option<Vec<f32>>> = prepared
        .iter()
        .map(|p| {
            let ws = prompt_windows(p.prompt.as_deref().filter(|_| uses_prompt)?);
            (!ws.is_empty()).then(|| mean_pool(ws.iter().map(|w| vectors[w].as_slice())))
        })
        .collect();
    // Openings are embedded apart from the rest, so the (long, slow) texts keep their cache
    // file when only the candidates change.
    let openings: Vec<String> = if plan.candidates.iter().any(|c| c.features.opening) {
        prepared
            .iter()
            .filter_map(|p| opening(&p.text).map(str::to_string))
            .collect()
    } else {
        Vec::new()
    };
    let opening_vectors = embed_all(
        &encoder,
        &openings,
        opts.embedding_cache.as_deref(),
        &mut progress_printer(plan.id),
    )
    .map_err(|e| DetectorError::Inference {
        detector: plan.id.to_string(),
        message: e.to_string(),
    })?;
    // Every window when a candidate reads them all (a superset of the limited ones).
    let every = plan
        .candidates
        .iter()
        .any(|c| c.features.windows && c.features.every_window);
    let to_embed: fn(&str) -> Vec<&str> = if every { every_window } else { windows };
    let window_vectors = if plan.candidates.iter().any(|c| c.features.windows) {
        embed_parts(split_parts(&|p: &Prepared| {
            to_embed(&p.text).into_iter().map(str::to_string).collect()
        }))?
    } else {
        HashMap::new()
    };
    let pools_of = |which: fn(&str) -> Vec<&str>| -> Vec<Option<WindowPools>> {
        prepared
            .iter()
            .map(|p| {
                if window_vectors.is_empty() {
                    return None;
                }
                let w = which(&p.text);
                let vs: Vec<&[f32]> = w.iter().map(|t| window_vectors[*t].as_slice()).collect();
                WindowPools::of(&vs)
            })
            .collect()
    };
    let pools = pools_of(windows);
    let pools_every = if every {
        pools_of(every_window)
    } else {
        Vec::new()
    };
    let features = |spec: &FeatureSpec, i: usize| -> Vec<f32> {
        let p = &prepared[i];
        let pools = if spec.every_window && spec.windows {
            &pools_every
        } else {
            &pools
        };
        let text = match &pools[i] {
            Some(w) if spec.text_from_windows => w.mean.as_slice(),
            _ => vectors[&p.text].as_slice(),
        };
        let v = Vectors {
            text,
            opening: spec
                .opening_of(&p.text, &spec.text_windows(&p.text))
                .map(|o| match opening_vectors.get(o) {
                    Some(v) => v.as_slice(),
                    None => window_vectors[o].as_slice(),
                }),
            windows: pools[i]
                .as_ref()
                .map(|w| w.max.as_slice())
                .filter(|_| spec.windows),
            prompt: p.prompt.as_ref().filter(|_| spec.uses_prompt()).map(|q| {
                match &prompt_means[i] {
                    Some(mean) => mean.as_slice(),
                    None => vectors[q].as_slice(),
                }
            }),
            nearest_window: None,
        };
        let v = Vectors {
            nearest_window: if spec.prompt_similarity {
                let ws: Vec<&[f32]> = spec
                    .text_windows(&p.text)
                    .iter()
                    .map(|t| window_vectors[*t].as_slice())
                    .collect();
                nearest_window(&ws, v.prompt)
            } else {
                None
            },
            ..v
        };
        spec.assemble(v, &p.text)
    };
    let train_idx: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].heldout()).collect();
    let held_idx: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].heldout() && !rows[i].train_only)
        .collect();
    let train_rows: Vec<&Row> = train_idx.iter().map(|&i| &rows[i]).collect();
    let y: Vec<bool> = train_rows.iter().map(|r| r.positive).collect();
    let balanced = balanced_weights(&y);
    let weights = |c: &Candidate| -> Vec<f32> {
        balanced
            .iter()
            .zip(&train_rows)
            .map(|(b, r)| {
                if (plan.hard_negative)(r) {
                    b * c.hard_negative_weight
                } else {
                    *b
                }
            })
            .collect()
    };
    // Derived rows train but are never in the headline figures, in cross-validation as on
    // held-out rows; those in the plan's derived groups are measured apart.
    let measured_mask: Vec<bool> = train_rows.iter().map(|r| !r.train_only).collect();
    let folds: Vec<usize> = train_rows
        .iter()
        .map(|r| split_bucket(&format!("fold/{}", r.key), FOLDS) as usize)
        .collect();

    // Model selection on out-of-fold predictions.
    let mut selection = Vec::new();
    let mut tried: Vec<(Chosen, Vec<f32>, Option<f64>)> = Vec::new();
    for c in &plan.candidates {
        let x: Vec<Vec<f32>> = train_idx
            .iter()
            .map(|&i| features(&c.features, i))
            .collect();
        let oof = cross_validate(&x, &y, &weights(c), &folds, &c.hyper, opts.seed);
        let chosen = choose_threshold(
            plan.threshold,
            &keep(&oof, &measured_mask),
            &keep(&y, &measured_mask),
            &keep(&train_rows, &measured_mask),
        );
        eprintln!(
            "{}: candidate {:<28} cv objective {:.4} (threshold {:.3}, accuracy {:.4}, recall {:.4}, fpr {:.4})",
            plan.id,
            c.name,
            chosen.objective,
            chosen.threshold,
            chosen.accuracy,
            chosen.recall,
            chosen.fpr
        );
        let derived: BTreeMap<&str, Value> = plan
            .derived_groups
            .iter()
            .map(|(name, prefix)| {
                let (p, yy): (Vec<f32>, Vec<bool>) = oof
                    .iter()
                    .zip(&train_rows)
                    .filter(|(_, r)| r.train_only && in_group(&r.source, prefix))
                    .map(|(p, r)| (*p, r.positive))
                    .unzip();
                let (recall, fpr) = rates(&p, &yy, chosen.threshold);
                eprintln!(
                    "{}:   {name}: accuracy {:.4}, recall {recall:.4}, fpr {fpr:.4} (n={})",
                    plan.id,
                    accuracy_at(&p, &yy, chosen.threshold),
                    p.len()
                );
                (
                    *name,
                    json!({"n": p.len(), "accuracy": accuracy_at(&p, &yy, chosen.threshold), "recall": recall, "fpr": fpr}),
                )
            })
            .collect();
        // Out-of-fold accuracy on all the derived rows measured apart.
        let (p, yy): (Vec<f32>, Vec<bool>) = oof
            .iter()
            .zip(&train_rows)
            .filter(|(_, r)| {
                r.train_only
                    && plan
                        .derived_groups
                        .iter()
                        .any(|(_, prefix)| in_group(&r.source, prefix))
            })
            .map(|(p, r)| (*p, r.positive))
            .unzip();
        let derived_accuracy = (!p.is_empty()).then(|| accuracy_at(&p, &yy, chosen.threshold));
        let mut entry = json!({"candidate": c, "cross_validation": chosen});
        if !derived.is_empty() {
            entry["cross_validation_derived"] = json!(derived);
            entry["cross_validation_derived_accuracy"] = json!(derived_accuracy);
        }
        selection.push(entry);
        tried.push((chosen, oof, derived_accuracy));
    }
    let measured = measured_mask.iter().filter(|m| **m).count();
    let (ci, choice) = choose_candidate(plan.prefer_robust, &tried, measured);
    let (chosen, oof, _) = tried.swap_remove(ci);
    let choice = json!({
        "rule": if plan.prefer_robust {
            "among the candidates within one standard error of the best cross-validated objective, the most accurate out of fold on the derived rows"
        } else {
            "the best cross-validated objective"
        },
        "best_objective": choice.0,
        "standard_error": choice.1,
        "eligible": choice.2.iter().map(|&i| plan.candidates[i].name).collect::<Vec<_>>(),
    });
    let cand = plan.candidates[ci];
    // The features the head ships with (and is measured with on the held-out rows).
    let served = FeatureSpec {
        opening_from_window: plan.opening_from_window
            && cand.features.opening
            && cand.features.windows,
        prompt_from_windows: plan.prompt_from_windows && cand.features.uses_prompt(),
        ..cand.features
    };

    // Threshold curve on out-of-fold predictions (measured rows only), for the record.
    let (oof, y_m, train_m) = (
        keep(&oof, &measured_mask),
        keep(&y, &measured_mask),
        keep(&train_rows, &measured_mask),
    );
    let curve: Vec<Value> = [0.05f32, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98]
        .iter()
        .chain(std::iter::once(&chosen.threshold))
        .map(|&t| {
            let (recall, fpr) = rates(&oof, &y_m, t);
            let mut v = json!({"threshold": t, "recall": recall, "fpr": fpr, "accuracy": accuracy_at(&oof, &y_m, t)});
            if let ThresholdRule::RecallAtFpr { source, .. } = plan.threshold {
                let (n, f) = oof.iter().zip(&train_m).filter(|(_, r)| !r.positive && r.source.starts_with(source)).fold(
                    (0usize, 0usize),
                    |(n, f), (p, _)| (n + 1, f + usize::from(*p >= t)),
                );
                v["fpr_source"] = json!(f as f64 / n.max(1) as f64);
            }
            v
        })
        .collect();

    // The final head, on the whole training split.
    let x: Vec<Vec<f32>> = train_idx
        .iter()
        .map(|&i| features(&cand.features, i))
        .collect();
    let nets = fit_members(&x, &y, &weights(&cand), &cand.hyper, opts.seed);
    let mut training = json!({
        "seed": opts.seed,
        "candidate": cand.name,
        "hyper": cand.hyper,
        "hard_negative_weight": cand.hard_negative_weight,
        "threshold_rule": plan.threshold,
        "rows": {"train": train_idx.len(), "heldout": held_idx.len()},
    });
    if served != cand.features {
        training["served"] = json!(
            "the opening of a text with windows is its first window (trained on its first characters)"
        );
    }
    let head = Head {
        format: FORMAT.to_string(),
        detector: plan.id.to_string(),
        encoder: encoder.id().to_string(),
        embedding_dim: encoder.dimension(),
        positive: plan.positive.to_string(),
        negative: plan.negative.to_string(),
        features: served,
        rule_names: cand.features.rule_names(),
        nets,
        threshold: chosen.threshold,
        training,
        prescreen: None,
    };

    // Held-out measurement.
    let held_rows: Vec<&Row> = held_idx.iter().map(|&i| &rows[i]).collect();
    let held_pred: Vec<bool> = held_idx
        .iter()
        .map(|&i| head.score(&features(&served, i)) >= 0.5)
        .collect();
    let label = |b: bool| {
        if b {
            plan.positive.to_string()
        } else {
            plan.negative.to_string()
        }
    };
    let gold: Vec<String> = held_rows.iter().map(|r| label(r.positive)).collect();
    let pred: Vec<String> = held_pred.iter().map(|b| label(*b)).collect();
    let report = ClassificationReport::compute(&gold, &pred, Some(plan.positive));
    let h = report.headline();
    let calibration = Calibration {
        data: plan.heldout_data.to_string(),
        n: report.n,
        accuracy: Some(report.accuracy),
        precision: h.map(|h| h.precision),
        recall: h.map(|h| h.recall),
        f1: h.map(|h| h.f1),
        threshold: Some(0.5),
        command: plan.validate_command.to_string(),
    };
    // Paired comparison with a baseline scorer on the same held-out rows, where rows carry one.
    let pairs: Vec<(bool, bool)> = held_rows
        .iter()
        .zip(&held_pred)
        .filter_map(|(r, p)| r.baseline.map(|b| (b == r.positive, *p == r.positive)))
        .collect();
    let paired = (!pairs.is_empty()).then(|| {
        json!({
            "what": "baseline (A) versus this detector (B), correct on the same held-out rows; difference = B - A",
            "comparison": emmental_core::stats::paired_comparison(&pairs, emmental_core::stats::CONFIDENCE),
        })
    });
    let groups: BTreeMap<&str, Value> = plan
        .groups
        .iter()
        .map(|(name, prefix)| {
            let (g, p): (Vec<String>, Vec<String>) = held_rows
                .iter()
                .zip(&gold)
                .zip(&pred)
                .filter(|((r, _), _)| in_group(&r.source, prefix))
                .map(|((_, g), p)| (g.clone(), p.clone()))
                .unzip();
            (
                *name,
                ClassificationReport::compute(&g, &p, Some(plan.positive)).to_json(plan.id),
            )
        })
        .collect();
    let derived: BTreeMap<&str, Value> = plan
        .derived_groups
        .iter()
        .map(|(name, prefix)| {
            let (g, p): (Vec<String>, Vec<String>) = (0..rows.len())
                .filter(|&i| {
                    rows[i].heldout() && rows[i].train_only && in_group(&rows[i].source, prefix)
                })
                .map(|i| {
                    let score = head.score(&features(&served, i));
                    (label(rows[i].positive), label(score >= 0.5))
                })
                .unzip();
            (
                *name,
                ClassificationReport::compute(&g, &p, Some(plan.positive)).to_json(plan.id),
            )
        })
        .collect();
    let mut validation = json!({
        "heldout": report.to_json(plan.id),
        "heldout_groups": groups,
        "paired_with_baseline": paired,
        "heldout_by_source": by_source(
            held_rows
                .iter()
                .zip(&held_pred)
                .map(|(r, p)| (r.source.as_str(), r.positive, *p))
        ),
        "extra": extra,
    });
    if !derived.is_empty() {
        validation["heldout_derived"] = json!(derived);
    }
    let data = counts(&rows);

    std::fs::create_dir_all(&opts.out_dir).map_err(|e| DetectorError::Io {
        path: opts.out_dir.clone(),
        source: e,
    })?;
    let weights_path = opts.out_dir.join(format!("{}.json", plan.id));
    let record_path = opts.out_dir.join(format!("{}.record.json", plan.id));
    let write = |path: &PathBuf, body: String| {
        std::fs::write(path, body + "\n").map_err(|e| DetectorError::Io {
            path: path.clone(),
            source: e,
        })
    };
    write(
        &weights_path,
        serde_json::to_string(&head).expect("heads serialise"),
    )?;
    let record = json!({
        "detector": plan.id,
        "command": format!(
            "emmental detectors train {} --data-dir {} --out {} --seed {}",
            plan.id,
            opts.data_dir.display(),
            opts.out_dir.display(),
            opts.seed
        ),
        "seed": opts.seed,
        "encoder": encoder.id(),
        "weights_version": crate::classifier::weights_version((serde_json::to_string(&head).expect("heads serialise") + "\n").as_bytes()),
        "data": data,
        "folds": FOLDS,
        "selection": selection,
        "chosen": {"candidate": cand.name, "cross_validation": chosen, "choice": choice},
        "threshold_curve_out_of_fold": curve,
        "validation": validation,
        "calibration": calibration,
    });
    write(
        &record_path,
        serde_json::to_string_pretty(&record).expect("records serialise"),
    )?;
    Ok(TrainReport {
        detector: plan.id.to_string(),
        seed: opts.seed,
        files: vec![weights_path, record_path],
        data,
        validation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_select_by_source_prefix_or_its_negation() {
        assert!(in_group("emmental/attacks", "emmental/"));
        assert!(!in_group("notinject", "emmental/"));
        assert!(in_group("notinject", "!emmental/"));
        assert!(!in_group("emmental/own_content", "!emmental/"));
    }

    fn row(source: &str, positive: bool) -> Row {
        Row {
            text: String::new(),
            prompt: None,
            positive,
            source: source.into(),
            key: String::new(),
            note: None,
            baseline: None,
            train_only: false,
        }
    }

    #[test]
    fn a_robust_choice_takes_the_most_robust_candidate_within_one_standard_error() {
        let c = |objective: f64, derived: Option<f64>| {
            (
                Chosen {
                    threshold: 0.5,
                    objective,
                    accuracy: objective,
                    recall: 0.0,
                    fpr: 0.0,
                    fpr_source: None,
                },
                Vec::new(),
                derived,
            )
        };
        // n = 1,600 at 0.90: one standard error is 0.0075.
        let tried = [
            c(0.900, Some(0.70)),
            c(0.895, Some(0.85)),
            c(0.890, Some(0.95)),
            c(0.880, Some(0.99)),
        ];
        let (i, (top, se, eligible)) = choose_candidate(false, &tried, 1600);
        assert_eq!((i, top), (0, 0.900));
        assert_eq!((se, eligible), (0.0, vec![0]));
        let (i, (_, se, eligible)) = choose_candidate(true, &tried, 1600);
        assert!((se - 0.0075).abs() < 1e-9, "{se}");
        assert_eq!(eligible, [0, 1]);
        assert_eq!(i, 1, "more robust and within one standard error");
        // Ties keep the first.
        let tried = [c(0.9, Some(0.8)), c(0.9, Some(0.8))];
        assert_eq!(choose_candidate(true, &tried, 1600).0, 0);
    }

    #[test]
    fn accuracy_threshold_separates_when_it_can() {
        let p = [0.1, 0.2, 0.35, 0.4, 0.9];
        let y = [false, false, true, true, true];
        let r: Vec<Row> = y.iter().map(|y| row("s", *y)).collect();
        let rr: Vec<&Row> = r.iter().collect();
        let c = choose_threshold(ThresholdRule::Accuracy, &p, &y, &rr);
        assert_eq!(c.accuracy, 1.0);
        assert!(c.threshold > 0.2 && c.threshold < 0.35);
    }

    #[test]
    fn recall_at_fpr_respects_the_budget_on_its_source_only() {
        // Hard negatives from "ni" score high; other negatives low.
        let p = [0.95, 0.9, 0.8, 0.7, 0.6, 0.85, 0.1, 0.1];
        let y = [true, true, true, true, true, false, false, false];
        let r: Vec<Row> = [
            ("x", true),
            ("x", true),
            ("x", true),
            ("x", true),
            ("x", true),
            ("ni", false),
            ("ni", false),
            ("other", false),
        ]
        .iter()
        .map(|(s, y)| row(s, *y))
        .collect();
        let rr: Vec<&Row> = r.iter().collect();
        let rule = |max_fpr, max_fpr_all| ThresholdRule::RecallAtFpr {
            source: "ni",
            max_fpr,
            max_fpr_all,
        };
        let c = choose_threshold(rule(0.0, 1.0), &p, &y, &rr);
        assert!(c.threshold > 0.85 && c.threshold <= 0.9, "{c:?}");
        assert_eq!(c.fpr_source, Some(0.0));
        assert!((c.recall - 0.4).abs() < 1e-9);
        let c = choose_threshold(rule(0.5, 1.0), &p, &y, &rr);
        assert_eq!(c.recall, 1.0);
        // A budget on all negatives binds too: one false positive of three is too many.
        let c = choose_threshold(rule(0.5, 0.2), &p, &y, &rr);
        assert!(c.fpr <= 0.2 && c.threshold > 0.85, "{c:?}");
    }
}
