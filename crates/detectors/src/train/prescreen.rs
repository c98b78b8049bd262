//! `emmental detectors prescreen NAME`: fits a [`Prescreen`] in front of a trained head (a
//! cascade) and measures what it changes.
//!
//! The prescreen reads the head's own features, built from the encoder's token states after an
//! early layer instead of the full pass (layer 0, the token embeddings, costs next to nothing).
//! Inputs it scores below its bound are answered negative without the full pass. The bound is
//! set on the training split alone, out of fold: the largest bound under which at most
//! `max_flagged_exits` of the training rows the head flags would have stopped at the
//! prescreen. The held-out split then measures, with intervals, how many benign rows stop
//! early and how many of the head's verdicts the cascade changes.

use std::path::PathBuf;

use emmental_core::stats::wilson;
use serde_json::json;

use super::assemble::{self, Row};
use crate::classifier::fit::{self, Hyper};
use crate::classifier::head::{Prescreen, sigmoid};
use crate::classifier::{prescreen_vectors, weights_version};
use crate::{Detector, DetectorError, Input, Resources};

/// How to fit a prescreen.
#[derive(Debug, Clone)]
pub struct PrescreenOptions {
    pub data_dir: PathBuf,
    /// Where to write `<id>.json` (the head with its prescreen) and `<id>.prescreen.json`.
    pub out_dir: PathBuf,
    /// The encoder layer it reads (0: token embeddings).
    pub layer: usize,
    /// The share of the training rows the head flags that may stop at the prescreen.
    pub max_flagged_exits: f64,
    pub seed: u64,
}

/// Folds of the training split for the out-of-fold bound.
const FOLDS: u64 = 5;

/// A logistic regression: a prescreen must be cheap to run, and its errors are bounded by
/// the cut, not by its own accuracy.
const HYPER: Hyper = Hyper {
    hidden: 0,
    l2: 1e-2,
    epochs: 40,
    lr: 0.01,
    batch: 64,
    members: 1,
};

/// Inputs per feature batch.
const BATCH: usize = 64;

fn input(r: &Row) -> Input<'_> {
    match &r.prompt {
        Some(p) => Input::answer(p, &r.text),
        None => Input::text(&r.text),
    }
}

/// Fits the prescreen of detector `id`, writes the head with it, and returns the record.
pub fn prescreen(
    id: &str,
    opts: &PrescreenOptions,
    res: &Resources,
) -> Result<serde_json::Value, DetectorError> {
    // As built for serving, without any prescreen its weights carry.
    let det = crate::registry::classifier(id, res)?.with_prescreen(None);
    let encoder = res.encoder(id)?;
    if opts.layer > encoder.layers() {
        return Err(DetectorError::Load {
            detector: id.to_string(),
            message: format!(
                "layer {} requested; the encoder has {}",
                opts.layer,
                encoder.layers()
            ),
        });
    }
    // Normalised as the registry's detector normalises what it serves (Unicode look-alikes and
    // hidden characters), so that the head alone and the cascade are measured as they run.
    let rows: Vec<Row> = assemble::rows(id, &opts.data_dir)?
        .into_iter()
        .map(|mut r| {
            r.text = normalized(r.text);
            r.prompt = r.prompt.map(normalized);
            r
        })
        .collect();
    let inputs: Vec<Input<'_>> = rows.iter().map(input).collect();
    let fail = |e: emmental_core::ModelError| DetectorError::Inference {
        detector: id.to_string(),
        message: e.to_string(),
    };
    let mut cheap_x: Vec<Vec<f32>> = Vec::with_capacity(rows.len());
    let mut full: Vec<bool> = Vec::with_capacity(rows.len());
    for chunk in inputs.chunks(BATCH) {
        cheap_x.extend(det.features(chunk, |texts| {
            prescreen_vectors(&encoder, texts, opts.layer).map_err(fail)
        })?);
        full.extend(
            det.detect_batch(chunk)?
                .iter()
                .map(|d| d.label == det.head().positive),
        );
    }
    let train: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].heldout()).collect();
    let held: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].heldout() && !rows[i].train_only)
        .collect();
    let fit_on = |idx: &[usize], seed: u64| {
        let x: Vec<Vec<f32>> = idx.iter().map(|&i| cheap_x[i].clone()).collect();
        let y: Vec<bool> = idx.iter().map(|&i| rows[i].positive).collect();
        fit::fit(&x, &y, &fit::balanced_weights(&y), &HYPER, seed)
    };

    // Out of fold on the training split: each row scored by a network that never saw it.
    let mut oof = vec![f32::NAN; rows.len()];
    for fold in 0..FOLDS {
        // Salted: the held-out split is the same hash's buckets 0–2 of 10, which would leave
        // folds 3 and 4 of 5 twice the size of the others.
        let fold_of = |i: usize| {
            crate::data::split_bucket(&format!("prescreen fold\0{}", rows[i].key), FOLDS) == fold
        };
        let (inside, outside): (Vec<usize>, Vec<usize>) = train.iter().partition(|&&i| fold_of(i));
        let net = fit_on(&outside, opts.seed + fold);
        for i in inside {
            oof[i] = sigmoid(net.logit(&cheap_x[i]));
        }
    }
    // The bound: exits are probabilities below it, so the k-th lowest among the flagged rows
    // lets exactly k of them through.
    let measured: Vec<usize> = train
        .iter()
        .copied()
        .filter(|&i| !rows[i].train_only)
        .collect();
    let mut flagged_oof: Vec<f32> = measured
        .iter()
        .filter(|&&i| full[i])
        .map(|&i| oof[i])
        .collect();
    flagged_oof.sort_by(f32::total_cmp);
    if flagged_oof.is_empty() {
        return Err(DetectorError::Load {
            detector: id.to_string(),
            message: "the head flags no training row; nothing bounds the prescreen".into(),
        });
    }
    let k = (opts.max_flagged_exits * flagged_oof.len() as f64).floor() as usize;
    // Never 0 (nothing would stop) nor above one half (a coin flip is no clear case).
    let bound = flagged_oof[k.min(flagged_oof.len() - 1)].clamp(f32::MIN_POSITIVE, 0.5);
    let net = fit_on(&train, opts.seed);
    let cheap: Vec<f32> = cheap_x.iter().map(|x| sigmoid(net.logit(x))).collect();

    // What it does: on the training split out of fold (where the bound was set) and on the
    // held-out split with the final network.
    let summary = |idx: &[usize], p: &[f32]| {
        let exits = |keep: &dyn Fn(usize) -> bool| {
            let set: Vec<usize> = idx.iter().copied().filter(|&i| keep(i)).collect();
            let k = set.iter().filter(|&&i| p[i] < bound).count();
            let (lo, hi) = wilson(k, set.len(), 0.95);
            json!({"stopped": k, "of": set.len(), "share": ratio(k, set.len()), "interval95": [lo, hi]})
        };
        // Verdicts of the head alone and of the cascade, against the gold labels.
        let cascade = |i: usize| full[i] && p[i] >= bound;
        let metrics = |verdict: &dyn Fn(usize) -> bool| {
            let tp = idx
                .iter()
                .filter(|&&i| verdict(i) && rows[i].positive)
                .count();
            let fp = idx
                .iter()
                .filter(|&&i| verdict(i) && !rows[i].positive)
                .count();
            let pos = idx.iter().filter(|&&i| rows[i].positive).count();
            let right = idx
                .iter()
                .filter(|&&i| verdict(i) == rows[i].positive)
                .count();
            json!({
                "accuracy": ratio(right, idx.len()), "accuracy_interval95": wilson(right, idx.len(), 0.95),
                "recall": ratio(tp, pos), "recall_interval95": wilson(tp, pos, 0.95),
                "precision": ratio(tp, tp + fp), "flagged": tp + fp, "rows": idx.len(),
            })
        };
        let changed = idx.iter().filter(|&&i| full[i] != cascade(i)).count();
        json!({
            "benign_rows_stopped_early": exits(&|i| !rows[i].positive),
            "all_rows_stopped_early": exits(&|_| true),
            "rows_the_head_flags_stopped_early": exits(&|i| full[i]),
            "verdicts_changed": changed,
            "head_alone": metrics(&|i| full[i]),
            "cascade": metrics(&cascade),
        })
    };
    let record = json!({
        "detector": id,
        "layer": opts.layer,
        "bound": bound,
        "rule": format!(
            "the lowest bound under which at most {} of the training rows the head flags stop early, out of {FOLDS} folds",
            opts.max_flagged_exits
        ),
        "seed": opts.seed,
        "hyper": HYPER,
        "training_out_of_fold": summary(&measured, &oof),
        "heldout": summary(&held, &cheap),
    });
    let mut head = det.head().clone();
    // The head's version as training wrote it (its record names it), before the prescreen.
    let head_version =
        weights_version((serde_json::to_string(&head).expect("heads serialise") + "\n").as_bytes());
    head.prescreen = Some(Prescreen {
        layer: opts.layer,
        nets: vec![net],
        bound,
        training: record.clone(),
    });
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| DetectorError::Io {
        path: opts.out_dir.clone(),
        source: e,
    })?;
    let write = |path: PathBuf, body: String| {
        std::fs::write(&path, body).map_err(|e| DetectorError::Io { path, source: e })
    };
    // As training writes heads: compact (the injection head is megabytes of numbers).
    let weights = serde_json::to_string(&head).expect("heads serialise") + "\n";
    let mut record = record;
    record["head_version"] = json!(head_version);
    record["weights_version"] = json!(weights_version(weights.as_bytes()));
    write(opts.out_dir.join(format!("{id}.json")), weights)?;
    write(
        opts.out_dir.join(format!("{id}.prescreen.json")),
        serde_json::to_string_pretty(&record).expect("JSON") + "\n",
    )?;
    Ok(record)
}

fn normalized(text: String) -> String {
    if text.is_ascii() {
        text
    } else {
        crate::unicode::normalize(&text).text
    }
}

fn ratio(k: usize, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}
