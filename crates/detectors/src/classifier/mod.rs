//! Encoder-based classifiers: a small trained head on the embedded sentence encoder.
//!
//! The refusal, harm and injection detectors are all the same machine, [`EncoderClassifier`]:
//! the text (and, for answer-judging detectors, its prompt) goes through all-MiniLM-L6-v2
//! (mean-pooled, L2-normalised, 384 numbers), cheap rule features are added where they were
//! shown to help ([`rules`]), and a [`Head`] — logistic regression or a one-hidden-layer
//! network, trained in plain Rust by [`fit`] — turns that into a score. The head ships as JSON
//! inside the binary and can be replaced with `--weights DIR`.
//!
//! ```
//! use emmental_detectors::classifier::rules::RuleSet;
//! let f = RuleSet::Refusal.features("I'm sorry, but I can't help with that.");
//! assert_eq!(f[0], 1.0); // an apology opens the answer
//! ```

pub mod embed;
pub mod fit;
pub mod head;
pub mod rules;

use std::sync::Arc;

use emmental_core::Embedder;
use emmental_models::local::LocalEncoder;
use sha2::{Digest, Sha256};

pub use head::{FeatureSpec, Head};

use crate::{Detection, Detector, DetectorError, DetectorInfo, Input, Resources};

/// A detector made of the encoder and a trained head.
pub struct EncoderClassifier {
    info: DetectorInfo,
    head: Head,
    encoder: Arc<LocalEncoder>,
}

/// A short version tag of a weights file: behaviour changes exactly when the weights do.
pub fn weights_version(bytes: &[u8]) -> String {
    format!("1+{}", &hex::encode(Sha256::digest(bytes))[..12])
}

impl EncoderClassifier {
    /// Builds detector `info.id` from its weights (`--weights DIR` or the shipped bytes).
    pub fn build(mut info: DetectorInfo, res: &Resources, shipped: &'static [u8]) -> Result<Self, DetectorError> {
        let encoder = res.encoder(info.id)?;
        let bytes = res.weights(info.id, info.id, shipped)?;
        let head = Head::from_json(info.id, &bytes)?;
        if head.encoder != encoder.id() || head.embedding_dim != encoder.dimension() {
            return Err(DetectorError::Load {
                detector: info.id.to_string(),
                message: format!(
                    "weights were trained on encoder {} ({} dimensions), the loaded encoder is {} ({})",
                    head.encoder,
                    head.embedding_dim,
                    encoder.id(),
                    encoder.dimension()
                ),
            });
        }
        info.version = weights_version(&bytes);
        Ok(Self { info, head, encoder })
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    fn fail(&self, e: impl std::fmt::Display) -> DetectorError {
        DetectorError::Inference {
            detector: self.info.id.to_string(),
            message: e.to_string(),
        }
    }
}

impl Detector for EncoderClassifier {
    fn info(&self) -> &DetectorInfo {
        &self.info
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        Ok(self.detect_batch(std::slice::from_ref(input))?.remove(0))
    }

    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        let spec = self.head.features;
        let mut texts: Vec<&str> = inputs.iter().map(|i| i.text).collect();
        if spec.uses_prompt() {
            texts.extend(inputs.iter().filter_map(|i| i.prompt));
        }
        let vectors = embed::embed(&self.encoder, &texts).map_err(|e| self.fail(e))?;
        let (text_vecs, mut prompt_vecs) = vectors.split_at(inputs.len());
        let mut out = Vec::with_capacity(inputs.len());
        for (input, t) in inputs.iter().zip(text_vecs) {
            let p = match input.prompt {
                Some(_) if spec.uses_prompt() => {
                    let (first, rest) = prompt_vecs.split_first().expect("one vector per prompt");
                    prompt_vecs = rest;
                    Some(first.as_ref())
                }
                _ => None,
            };
            let x = spec.assemble(t, p, input.text);
            let score = self.head.score(&x);
            if !score.is_finite() {
                return Err(self.fail("the head produced a non-finite score"));
            }
            out.push(Detection::class(self.head.label(score), score));
        }
        Ok(out)
    }
}
