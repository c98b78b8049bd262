//! `emmental detectors train NAME --data-dir DIR`: reproducible (seeded) training of the
//! model-based detectors from the public data sets, writing weights and a record of how they
//! were made. The weights that ship with Emmental are produced by this command.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::LabeledText;
use crate::{DetectorError, Resources};

pub mod assemble;
mod baselines;
pub mod pipeline;
pub mod prescreen;
pub mod sources;

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The public data sets (`../shared/data` layout).
    pub data_dir: PathBuf,
    /// Where to write `<id>.json` (weights) and `<id>.record.json` (how they were made).
    pub out_dir: PathBuf,
    pub seed: u64,
    /// Where encoder outputs are kept between runs (`None`: embed every time). A cached file
    /// holds exactly what a fresh run computes, so it changes speed, never the weights.
    pub embedding_cache: Option<PathBuf>,
}

/// What training produced, printed by the CLI and written as the record.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub detector: String,
    pub seed: u64,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Per source: rows used for training and for held-out validation.
    pub data: serde_json::Value,
    /// Validation on the held-out split (the figures shipped as calibration).
    pub validation: serde_json::Value,
}

/// Detectors that can be trained.
pub const TRAINABLE: &[&str] = &["refusal", "harm", "injection", crate::ner::ID];

/// The training plan of an encoder classifier (`refusal`, `harm`, `injection`).
pub fn plan(id: &str) -> Result<pipeline::Plan, DetectorError> {
    match id {
        "refusal" => Ok(crate::refusal::plan()),
        "harm" => Ok(crate::harm::plan()),
        "injection" => Ok(crate::injection::plan()),
        _ => Err(DetectorError::Unknown {
            name: id.to_string(),
            known: TRAINABLE.join(", "),
        }),
    }
}

/// Trains detector `id`.
pub fn train(id: &str, opts: &TrainOptions, res: &Resources) -> Result<TrainReport, DetectorError> {
    if id == crate::ner::ID {
        return crate::ner::train::train(opts, res);
    }
    let plan = plan(id)?;
    let extra = match id {
        "refusal" => baselines::xstest(&opts.data_dir)?,
        _ => serde_json::Value::Null,
    };
    let rows = assemble::rows(id, &opts.data_dir)?;
    pipeline::run(&plan, rows, opts, res, extra)
}

/// The labelled rows a trainable detector is trained and validated on, assembled from the
/// public data sets in `data_dir`; with `heldout_only`, just the held-out split. This is what
/// `emmental detectors validate NAME --data DIR --heldout` measures. With `derived`, the
/// derived rows its training measures apart instead ([`pipeline::Plan::derived_groups`], e.g.
/// harm's answers after a benign start; `--derived`).
pub fn labeled_rows(
    id: &str,
    data_dir: &Path,
    heldout_only: bool,
    derived: bool,
) -> Result<Vec<LabeledText>, DetectorError> {
    let plan = plan(id)?;
    Ok(assemble::rows(id, data_dir)?
        .into_iter()
        .filter(|r| {
            let measured_apart = r.train_only
                && plan
                    .derived_groups
                    .iter()
                    .any(|(_, prefix)| pipeline::in_group(&r.source, prefix));
            (if derived {
                measured_apart
            } else {
                !r.train_only
            }) && (!heldout_only || r.heldout())
        })
        .map(|r| LabeledText {
            label: if r.positive {
                plan.positive
            } else {
                plan.negative
            }
            .to_string(),
            text: r.text,
            prompt: r.prompt,
            source: r.source,
        })
        .collect())
}
