//! Names, places, organisations, street addresses, titles and nationality/religious/political
//! groups in free text: a token classification head on the embedded encoder
//! ([`NerRecognizer`], detector id `pii.ner`).
//!
//! How it works, per text:
//!
//! 1. the encoder (all-MiniLM-L6-v2) gives a hidden state for every word piece, after the layer
//!    the weights name, with the piece's byte offsets; texts longer than the encoder's window
//!    are read in overlapping windows, so the tail is tagged too;
//! 2. each piece's input is its state plus word-shape features ([`features`]: capitalisation —
//!    which the lowercasing tokenizer hides from the encoder —, digits, honorifics, company
//!    and street words, and the same for the neighbouring words);
//! 3. a small MLP gives BIO tag probabilities; Viterbi picks the best sequence that obeys BIO
//!    (no `I-X` without a `B-X`);
//! 4. each entity becomes a span snapped to whole words, scored by the mean probability of its
//!    tags; spans below the weights' threshold are dropped.
//!
//! The head is trained by `emmental detectors train pii.ner` ([`train`]) on sentences the
//! project generates ([`synth`]), on the training part of Presidio's synthetic PII set and on
//! the training part of the project's messages in 30 languages ([`multilingual`]: ordinary
//! words of other languages are not names); its Presidio held-out figures ship in
//! `calibration/pii.ner.json`, and the training record adds those on the held-out messages. Entity types follow Presidio's names;
//! Presidio's `GPE` is reported as `LOCATION`.

mod features;
pub(crate) mod head;
mod lists;
pub mod multilingual;
pub mod synth;
pub mod train;

use std::sync::Arc;

use emmental_models::local::{LocalEncoder, TokenStates};
use sha2::{Digest, Sha256};

use crate::{
    Detection, Detector, DetectorError, DetectorInfo, DetectorKind, Input, Recognizer, Resources,
    Span,
};
use head::HeadWeights;

/// Registry id of the recognizer and of the detector built on it.
pub const ID: &str = "pii.ner";
/// Entity types the head is trained for.
pub const TYPES: &[&str] = &[
    "PERSON",
    "LOCATION",
    "ORGANIZATION",
    "STREET_ADDRESS",
    "TITLE",
    "NRP",
];
/// The weights shipped in the binary (made by `emmental detectors train pii.ner`).
pub(crate) const SHIPPED: &[u8] = include_bytes!("../../weights/ner.json");
/// File stem of the weights (`ner.json`, `ner.record.json`).
pub const WEIGHTS_NAME: &str = "ner";

/// The NER recognizer: encoder + trained head.
pub struct NerRecognizer {
    encoder: Arc<LocalEncoder>,
    head: HeadWeights,
    types: Vec<String>,
    version: String,
}

fn load_err(message: impl Into<String>) -> DetectorError {
    DetectorError::Load {
        detector: ID.to_string(),
        message: message.into(),
    }
}

impl NerRecognizer {
    /// Builds from a weights file (`ner.json`).
    pub fn new(encoder: Arc<LocalEncoder>, weights: &[u8]) -> Result<Self, DetectorError> {
        let head: HeadWeights = serde_json::from_slice(weights)
            .map_err(|e| load_err(format!("NER weights do not parse: {e}")))?;
        head.validate()
            .map_err(|e| load_err(format!("NER weights: {e}")))?;
        if head.shape_features != features::NAMES {
            return Err(load_err(
                "NER weights were made for another set of shape features; retrain with this version",
            ));
        }
        if head.state_dim != encoder.dim() || head.layer > encoder.layers() {
            return Err(load_err(format!(
                "NER weights expect {}-wide states after layer {}; the encoder has {} after {} layers",
                head.state_dim,
                head.layer,
                encoder.dim(),
                encoder.layers()
            )));
        }
        let mut types: Vec<String> = head
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix("B-").map(str::to_string))
            .collect();
        types.dedup();
        let version = format!("head-{}", &hex::encode(Sha256::digest(weights))[..12]);
        Ok(Self {
            encoder,
            head,
            types,
            version,
        })
    }

    /// Builds with the shipped weights, or those in `res.weights_dir`.
    pub fn from_resources(res: &Resources) -> Result<Self, DetectorError> {
        let encoder = res.encoder(ID)?;
        let bytes = res.weights(ID, WEIGHTS_NAME, SHIPPED)?;
        Self::new(encoder, &bytes)
    }

    /// Changes whenever the weights change.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The training record inside the weights.
    pub fn record(&self) -> &serde_json::Value {
        &self.head.record
    }

    fn spans_of(&self, text: &str, states: &TokenStates) -> Vec<Span> {
        let n = states.tokens.len();
        if n == 0 {
            return Vec::new();
        }
        let offsets: Vec<(usize, usize)> = states.tokens.iter().map(|t| (t.start, t.end)).collect();
        let shape = features::token_features(text, &offsets);
        let d = self.head.input_dim();
        let mut x = Vec::with_capacity(n * d);
        for i in 0..n {
            x.extend_from_slice(states.state(i));
            x.extend_from_slice(&shape[i * features::COUNT..(i + 1) * features::COUNT]);
        }
        let probs = self.head.probabilities(&x, n);
        decode(text, &offsets, &probs, &self.head.tags, self.head.threshold)
    }
}

/// BIO tags to spans: Viterbi path, entities snapped to whole words, scored by the mean
/// probability of their tags; spans scoring below `threshold` are dropped.
fn decode(
    text: &str,
    offsets: &[(usize, usize)],
    probs: &[f32],
    tags: &[String],
    threshold: f32,
) -> Vec<Span> {
    let c = tags.len();
    let path = head::viterbi(probs, offsets.len(), c);
    let mut spans = Vec::new();
    let mut i = 0;
    while i < path.len() {
        let tag = path[i];
        if tag == 0 || tag.is_multiple_of(2) {
            i += 1;
            continue;
        }
        let kind = tags[tag].trim_start_matches("B-").to_string();
        let mut j = i + 1;
        while j < path.len() && path[j] == tag + 1 {
            j += 1;
        }
        let score = (i..j).map(|t| probs[t * c + path[t]]).sum::<f32>() / (j - i) as f32;
        let (s, e) = features::snap_to_words(text, offsets[i].0, offsets[j - 1].1);
        let (s, e) = trim_punctuation(text, s, e);
        if score >= threshold && s < e {
            spans.push(Span::from_bytes(text, s, e, kind, score));
        }
        i = j;
    }
    spans
}

/// `text[s..e]` without the punctuation a tagged token may carry at either end: a name
/// followed by a comma is the name (`Jane Smith,` → `Jane Smith`), and redacting the comma
/// would eat the sentence's punctuation. A full stop stays (`Acme Inc.`, `Main St.`), and so
/// does a bracket or quote closed inside the span.
fn trim_punctuation(text: &str, mut s: usize, mut e: usize) -> (usize, usize) {
    const EDGE: &[char] = &[
        ',', ';', ':', '!', '?', '"', '\'', '(', ')', '[', ']', '“', '”',
    ];
    let balanced = |span: &str, c: char| match c {
        ')' => span.contains('('),
        ']' => span.contains('['),
        '"' => span.matches('"').count().is_multiple_of(2),
        '”' => span.contains('“'),
        '\'' => true, // an apostrophe: O'Brien's, the Smiths'
        _ => false,
    };
    while s < e {
        let span = &text[s..e];
        let last = span.chars().next_back().expect("not empty");
        if last.is_whitespace() || (EDGE.contains(&last) && !balanced(span, last)) {
            e -= last.len_utf8();
            continue;
        }
        let first = span.chars().next().expect("not empty");
        let closed = match first {
            '(' => span.contains(')'),
            '[' => span.contains(']'),
            '"' => span[1..].contains('"'),
            '“' => span.contains('”'),
            _ => false,
        };
        if first.is_whitespace() || (EDGE.contains(&first) && first != '\'' && !closed) {
            s += first.len_utf8();
            continue;
        }
        break;
    }
    (s, e)
}

impl Recognizer for NerRecognizer {
    fn id(&self) -> &str {
        ID
    }

    fn types(&self) -> Vec<String> {
        self.types.clone()
    }

    fn recognize(&self, text: &str) -> Result<Vec<Span>, DetectorError> {
        Ok(self.recognize_batch(&[text])?.remove(0))
    }

    fn recognize_batch(&self, texts: &[&str]) -> Result<Vec<Vec<Span>>, DetectorError> {
        let states = self.encoder.token_states_blocking(texts, self.head.layer)?;
        Ok(texts
            .iter()
            .zip(&states)
            .map(|(t, s)| self.spans_of(t, s))
            .collect())
    }
}

/// The `pii.ner` detector: the recognizer's spans as a detection (`pii` or `clean`).
pub struct NerDetector {
    info: DetectorInfo,
    recognizer: NerRecognizer,
}

impl NerDetector {
    pub fn new(mut info: DetectorInfo, recognizer: NerRecognizer) -> Self {
        info.version = recognizer.version().to_string();
        Self { info, recognizer }
    }

    /// The static description (the registry adds calibration figures).
    pub fn describe() -> DetectorInfo {
        DetectorInfo {
            id: ID,
            description: "Names, places, organisations, street addresses, job titles and honorifics, and \
                          nationality/religious/political groups: a token classification head on the embedded encoder",
            sections: &["4.3.5", "5.5"],
            version: format!("head-{}", &hex::encode(Sha256::digest(SHIPPED))[..12]),
            kind: DetectorKind::Spans {
                types: TYPES.iter().map(|t| t.to_string()).collect(),
            },
            calibration: None,
        }
    }
}

impl Detector for NerDetector {
    fn info(&self) -> &DetectorInfo {
        &self.info
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        Ok(self.detect_batch(std::slice::from_ref(input))?.remove(0))
    }

    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        let texts: Vec<&str> = inputs.iter().map(|i| i.text).collect();
        Ok(self
            .recognizer
            .recognize_batch(&texts)?
            .into_iter()
            .map(|spans| Detection::spans("pii", spans))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_spans_leave_the_sentences_punctuation() {
        let t = |text: &str, inner: &str| {
            let s = text.find(inner).unwrap();
            let (a, b) = trim_punctuation(text, s, s + inner.len());
            text[a..b].to_string()
        };
        assert_eq!(t("Contact Jane Smith, IBAN", "Jane Smith,"), "Jane Smith");
        assert_eq!(t("call (Jane Smith) now", "(Jane Smith)"), "(Jane Smith)");
        assert_eq!(t("met Jane Smith) there", "Jane Smith)"), "Jane Smith");
        assert_eq!(
            t("from \"Acme Inc.\" today", "\"Acme Inc.\""),
            "\"Acme Inc.\""
        );
        assert_eq!(t("from Acme Inc.: today", "Acme Inc.:"), "Acme Inc.");
        assert_eq!(t("ask O'Brien's team", "O'Brien's"), "O'Brien's");
        assert_eq!(t("hi, Bob!", ", Bob!"), "Bob");
        assert_eq!(t("a , b", ","), "");
    }

    #[test]
    fn decode_makes_word_aligned_spans_with_mean_scores() {
        let text = "Ask Jürgen Müller now";
        let tags: Vec<String> = ["O", "B-PERSON", "I-PERSON"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tok = |w: &str| {
            let s = text.find(w).unwrap();
            (s, s + w.len())
        };
        // "Müller" split as "Mü" + "ller"; the last piece predicted O would cut the word: the
        // span is snapped to the whole word anyway.
        let offsets = vec![
            tok("Ask"),
            tok("Jürgen"),
            tok("Mü"),
            tok("ller"),
            tok("now"),
        ];
        let probs = vec![
            0.9, 0.05, 0.05, //
            0.1, 0.8, 0.1, //
            0.1, 0.1, 0.8, //
            0.6, 0.1, 0.3, //
            0.9, 0.05, 0.05,
        ];
        let spans = decode(text, &offsets, &probs, &tags, 0.5);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].text(text), "Jürgen Müller");
        assert_eq!((spans[0].start, spans[0].end), (4, 17));
        assert!((spans[0].score - 0.8).abs() < 1e-6);
        assert!(decode(text, &offsets, &probs, &tags, 0.9).is_empty());
    }

    #[test]
    fn shipped_weights_parse_and_name_the_types() {
        let head: HeadWeights = serde_json::from_slice(SHIPPED).unwrap();
        head.validate().unwrap();
        assert_eq!(head.shape_features, features::NAMES);
        for t in TYPES {
            assert!(head.tags.contains(&format!("B-{t}")), "no B-{t}");
        }
    }
}
