//! Span recognizers: the parts a span detector is assembled from (a regex with a validator,
//! a context-word rule, the NER head on the encoder). A [`crate::Detector`] combines several and
//! resolves their overlaps; a recognizer only proposes spans.

use crate::pii::needs::TextCounts;
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
    /// [`Recognizer::recognize`], given the text's byte counts, which a detector counts once
    /// for all its recognizers; rule-based recognizers skip the rules the counts rule out.
    fn recognize_counted(
        &self,
        text: &str,
        _counts: &TextCounts,
    ) -> Result<Vec<Span>, DetectorError> {
        self.recognize(text)
    }
    /// [`Recognizer::recognize_batch`], given each text's byte counts.
    fn recognize_batch_counted(
        &self,
        texts: &[&str],
        _counts: &[TextCounts],
    ) -> Result<Vec<Vec<Span>>, DetectorError> {
        self.recognize_batch(texts)
    }
}
