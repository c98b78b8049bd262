//! The shared vocabulary: what goes into a detector and what comes out.

use emmental_core::Estimate;
use serde::{Deserialize, Serialize};

use crate::DetectorError;

/// What a detector reads: a text, and for detectors that judge an answer (refusal, harm) the
/// prompt that the text answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<'a> {
    pub text: &'a str,
    pub prompt: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub fn text(text: &'a str) -> Self {
        Self { text, prompt: None }
    }
    pub fn answer(prompt: &'a str, text: &'a str) -> Self {
        Self {
            text,
            prompt: Some(prompt),
        }
    }
}

/// A typed stretch of the input text. Offsets are given twice: in Unicode scalar values
/// (`start`, `end`: what JSON consumers and the validation files use) and in UTF-8 bytes
/// (`byte_start`, `byte_end`: what Rust slicing uses). Both are half-open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub byte_start: usize,
    pub byte_end: usize,
    /// Entity type, Presidio's names where one exists (`EMAIL_ADDRESS`, `PERSON`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub score: f32,
}

impl Span {
    /// A span from byte offsets into `text` (which must fall on character boundaries).
    pub fn from_bytes(
        text: &str,
        byte_start: usize,
        byte_end: usize,
        kind: impl Into<String>,
        score: f32,
    ) -> Self {
        debug_assert!(text.is_char_boundary(byte_start) && text.is_char_boundary(byte_end));
        let start = text[..byte_start].chars().count();
        let end = start + text[byte_start..byte_end].chars().count();
        Self {
            start,
            end,
            byte_start,
            byte_end,
            kind: kind.into(),
            score,
        }
    }

    /// A span from character offsets into `text`; offsets past the end are clamped.
    pub fn from_chars(
        text: &str,
        start: usize,
        end: usize,
        kind: impl Into<String>,
        score: f32,
    ) -> Self {
        let byte_at = |c: usize| {
            text.char_indices()
                .nth(c)
                .map(|(b, _)| b)
                .unwrap_or(text.len())
        };
        let (byte_start, byte_end) = (byte_at(start), byte_at(end.max(start)));
        Self::from_bytes(text, byte_start, byte_end, kind, score)
    }

    /// The covered text.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.byte_start..self.byte_end]
    }

    /// Characters shared with another span.
    pub fn overlap(&self, other: &Span) -> usize {
        self.end
            .min(other.end)
            .saturating_sub(self.start.max(other.start))
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The predicted class: `refusal`/`compliance`, `harmful`/`benign`, `injection`/`benign`,
    /// or for span detectors the entity family found (`pii`, `secret`, `hidden`) or `clean`.
    pub label: String,
    /// Confidence in 0..1 that the input belongs to the detector's positive class (for span
    /// detectors: the highest span score, 0 when nothing was found).
    pub score: f32,
    #[serde(default)]
    pub spans: Vec<Span>,
}

impl Detection {
    /// A classifier's verdict with no spans.
    pub fn class(label: impl Into<String>, score: f32) -> Self {
        Self {
            label: label.into(),
            score,
            spans: Vec::new(),
        }
    }

    /// A span detector's verdict: `found` when there is any span, `clean` otherwise.
    pub fn spans(found: &str, spans: Vec<Span>) -> Self {
        let score = spans.iter().map(|s| s.score).fold(0.0, f32::max);
        Self {
            label: if spans.is_empty() {
                "clean".into()
            } else {
                found.into()
            },
            score,
            spans,
        }
    }
}

/// What kind of answer a detector gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DetectorKind {
    /// A classifier over whole texts; `positive` is the class its score measures.
    Classifier {
        labels: Vec<String>,
        positive: String,
    },
    /// A span detector; `types` are the entity types it can emit.
    Spans { types: Vec<String> },
}

/// Measured accuracy of a detector on data it did not train on, shipped with the detector so
/// that every eval and guard decision can say how far it can be trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The data set and split measured, e.g. `xstest completions, held-out 30% by prompt`.
    pub data: String,
    /// Number of items (texts or gold spans) measured.
    pub n: usize,
    /// Share of texts labelled correctly (classifiers) — with its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Estimate>,
    /// Positive-class (or all-span) precision, recall and F1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<Estimate>,
    /// The decision threshold on `score` the figures were measured at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// The command that reproduces these figures.
    pub command: String,
}

/// Who a detector is: the metadata every log, report and registry test relies on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorInfo {
    /// Stable id (`refusal`, `pii`, `secrets` …).
    pub id: &'static str,
    pub description: &'static str,
    /// Report sections this detector serves (ids from [`emmental_core::taxonomy`]).
    pub sections: &'static [&'static str],
    /// Version of the rules or weights; changes whenever behaviour changes.
    pub version: String,
    #[serde(flatten)]
    pub kind: DetectorKind,
    pub calibration: Option<Calibration>,
}

/// Judges a text. Implementations are cheap to share (`Arc<dyn Detector>`) and safe to call
/// from many threads; they are synchronous because their work is CPU-bound (callers in async
/// code use `spawn_blocking`).
pub trait Detector: Send + Sync {
    fn info(&self) -> &DetectorInfo;

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError>;

    /// Judges many inputs; encoder-based detectors override this to batch the encoder.
    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        inputs.iter().map(|i| self.detect(i)).collect()
    }

    /// Does ahead of time the work that depends only on the prompt, for a detector that
    /// judges an answer against the prompt it answers: a guard calls this while the model
    /// writes the answer, and judging the answer then costs less. Nothing for most detectors;
    /// an error here is left for [`Self::detect`] to report.
    fn prepare_prompt(&self, _prompt: &str) {}
}

impl<T: Detector + ?Sized> Detector for std::sync::Arc<T> {
    fn info(&self) -> &DetectorInfo {
        (**self).info()
    }
    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        (**self).detect(input)
    }
    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        (**self).detect_batch(inputs)
    }
    fn prepare_prompt(&self, prompt: &str) {
        (**self).prepare_prompt(prompt)
    }
}

impl<T: Detector + ?Sized> Detector for Box<T> {
    fn info(&self) -> &DetectorInfo {
        (**self).info()
    }
    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        (**self).detect(input)
    }
    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        (**self).detect_batch(inputs)
    }
    fn prepare_prompt(&self, prompt: &str) {
        (**self).prepare_prompt(prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_offsets_agree_in_bytes_and_chars() {
        let text = "Grüße an jürgen@example.de";
        let b = text.find("jürgen").unwrap();
        let s = Span::from_bytes(text, b, text.len(), "EMAIL_ADDRESS", 1.0);
        assert_eq!((s.start, s.end), (9, 26));
        assert_eq!(s.text(text), "jürgen@example.de");
        let c = Span::from_chars(text, 9, 26, "EMAIL_ADDRESS", 1.0);
        assert_eq!(c, s);
    }

    #[test]
    fn span_detection_is_clean_without_spans() {
        let d = Detection::spans("pii", vec![]);
        assert_eq!((d.label.as_str(), d.score), ("clean", 0.0));
    }
}
