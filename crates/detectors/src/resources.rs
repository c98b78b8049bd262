//! What building a detector may need: the encoder, and where trained weights come from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emmental_models::local::LocalEncoder;

use crate::DetectorError;

/// Shared inputs for building detectors. One loaded encoder serves every detector.
#[derive(Clone, Default)]
pub struct Resources {
    /// The embedded encoder (`local/all-minilm-l6-v2`), needed by model-based detectors.
    pub encoder: Option<Arc<LocalEncoder>>,
    /// A directory of trained weights (`<id>.json`) that replaces the shipped ones, as written
    /// by `emmental detectors train --out DIR`.
    pub weights_dir: Option<PathBuf>,
}

impl Resources {
    pub fn with_encoder(encoder: Arc<LocalEncoder>) -> Self {
        Self {
            encoder: Some(encoder),
            weights_dir: None,
        }
    }

    /// The encoder, or a load error naming the detector that needs it.
    pub fn encoder(&self, detector: &str) -> Result<Arc<LocalEncoder>, DetectorError> {
        self.encoder.clone().ok_or_else(|| DetectorError::Load {
            detector: detector.to_string(),
            message: "needs the encoder local/all-minilm-l6-v2".into(),
        })
    }

    /// The weights file `<name>.json`: from `weights_dir` when set, else the shipped bytes.
    pub fn weights(
        &self,
        detector: &str,
        name: &str,
        shipped: &'static [u8],
    ) -> Result<Vec<u8>, DetectorError> {
        match &self.weights_dir {
            Some(dir) => read_weights(detector, &dir.join(format!("{name}.json"))),
            None => Ok(shipped.to_vec()),
        }
    }
}

fn read_weights(detector: &str, path: &Path) -> Result<Vec<u8>, DetectorError> {
    std::fs::read(path).map_err(|e| DetectorError::Load {
        detector: detector.to_string(),
        message: format!("cannot read weights {}: {e}", path.display()),
    })
}
