//! `emmental detectors train NAME --data-dir DIR`: reproducible (seeded) training of the
//! model-based detectors from the public data sets, writing weights and a record of how they
//! were made. The weights that ship with Emmental are produced by this command.

use std::path::PathBuf;

use serde::Serialize;

use crate::{DetectorError, Resources};

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The public data sets (`../shared/data` layout).
    pub data_dir: PathBuf,
    /// Where to write `<id>.json` (weights) and `<id>.record.json` (how they were made).
    pub out_dir: PathBuf,
    pub seed: u64,
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
pub const TRAINABLE: &[&str] = &[crate::ner::ID];

/// Trains detector `id`.
pub fn train(id: &str, opts: &TrainOptions, res: &Resources) -> Result<TrainReport, DetectorError> {
    if id == crate::ner::ID {
        return crate::ner::train::train(opts, res);
    }
    Err(DetectorError::Unknown {
        name: id.to_string(),
        known: if TRAINABLE.is_empty() {
            "(none yet)".into()
        } else {
            TRAINABLE.join(", ")
        },
    })
}
