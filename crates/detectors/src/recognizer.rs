//! Span recognizers: the parts a span detector is assembled from (a regex with a validator,
//! a context-word rule, the NER head on the encoder). A [`crate::Detector`] combines several and
//! resolves their overlaps; a recognizer only proposes spans.

use crate::{DetectorError, Span};

/// Proposes typed spans in a text. Offsets refer to the text given.
pub trait Recognizer: Send + Sync {
    /// Stable id, e.g. `pii.email`, `pii.ner`.
    fn id(&self) -> &str;
    /// Entity types it can emit (Presidio's names).
    fn types(&self) -> Vec<String>;
    fn recognize(&self, text: &str) -> Result<Vec<Span>, DetectorError>;
    /// Many texts at once; model-based recognizers override this to batch.
    fn recognize_batch(&self, texts: &[&str]) -> Result<Vec<Vec<Span>>, DetectorError> {
        texts.iter().map(|t| self.recognize(t)).collect()
    }
}
