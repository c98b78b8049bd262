//! [`PiiDetector`]: runs a set of recognizers, keeps what scores at or above a threshold and
//! resolves overlaps, so that one stretch of text carries one type.

use super::needs::TextCounts;
use crate::{
    Detection, Detector, DetectorError, DetectorInfo, DetectorKind, Input, Recognizer, Span,
};

/// The default reporting threshold on span scores.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Types whose recognizers validate a checksum or a rigid structure. When such a span overlaps
/// a span of another type, it wins: an `EMAIL_ADDRESS` over the `DOMAIN_NAME` inside it, a
/// `CREDIT_CARD` over a `PHONE_NUMBER` on the same digits, an `IBAN_CODE` over a `PERSON` a
/// name tagger saw in its letters.
const SPECIFIC: &[&str] = &[
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "CRYPTO",
    "US_SSN",
    "US_ITIN",
    "UK_NINO",
    "UK_NHS",
    "ES_NIF",
    "ES_NIE",
    "IT_FISCAL_CODE",
    "NL_BSN",
    "IN_AADHAAR",
    "CA_SIN",
    "AU_TFN",
    "IP_ADDRESS",
    "URL",
    "MAC_ADDRESS",
];

/// How a span ranks against an overlapping one: specific types first, then longer spans (a URL
/// over the IP address inside it, a street address over the city in it), then higher scores.
fn rank(s: &Span) -> (bool, usize, u32) {
    (
        SPECIFIC.contains(&s.kind.as_str()),
        s.len(),
        (s.score * 1000.0) as u32,
    )
}

/// Keeps the best of overlapping spans (see [`rank`]), in text order.
pub fn resolve_overlaps(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| rank(b).cmp(&rank(a)).then(a.start.cmp(&b.start)));
    let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if kept
            .iter()
            .all(|k| k.byte_end <= s.byte_start || s.byte_end <= k.byte_start)
        {
            kept.push(s);
        }
    }
    kept.sort_by_key(|s| s.byte_start);
    kept
}

/// Personal data in a text: typed spans with Presidio's entity names, label `pii` or `clean`.
///
/// The recognizers are [`super::rule_recognizers`] for the structured types; a model-based
/// recognizer for names, places and organisations joins them through [`PiiDetector::with`].
pub struct PiiDetector {
    info: DetectorInfo,
    recognizers: Vec<Box<dyn Recognizer>>,
    threshold: f32,
}

impl PiiDetector {
    /// A detector over `recognizers`; `info` gets their entity types.
    pub fn new(mut info: DetectorInfo, recognizers: Vec<Box<dyn Recognizer>>) -> Self {
        let mut types: Vec<String> = recognizers.iter().flat_map(|r| r.types()).collect();
        types.sort();
        types.dedup();
        info.kind = DetectorKind::Spans { types };
        Self {
            info,
            recognizers,
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Adds a recognizer (e.g. the NER head) and its types.
    pub fn with(mut self, r: Box<dyn Recognizer>) -> Self {
        if let DetectorKind::Spans { types } = &mut self.info.kind {
            types.extend(r.types());
            types.sort();
            types.dedup();
        }
        self.recognizers.push(r);
        self
    }

    /// Reports spans scoring at least `t` (default [`DEFAULT_THRESHOLD`]).
    pub fn with_threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }

    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The recognizers' ids, in the order they run.
    pub fn recognizer_ids(&self) -> Vec<&str> {
        self.recognizers.iter().map(|r| r.id()).collect()
    }

    fn finish(&self, spans: Vec<Span>) -> Detection {
        let kept: Vec<Span> = spans
            .into_iter()
            .filter(|s| s.score >= self.threshold)
            .collect();
        Detection::spans("pii", resolve_overlaps(kept))
    }
}

impl Detector for PiiDetector {
    fn info(&self) -> &DetectorInfo {
        &self.info
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        let mut spans = Vec::new();
        let counts = TextCounts::of(input.text);
        for r in &self.recognizers {
            spans.extend(r.recognize_counted(input.text, &counts)?);
        }
        Ok(self.finish(spans))
    }

    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        // Recognizers see the whole batch, so a model-based one can batch its forward passes.
        let texts: Vec<&str> = inputs.iter().map(|i| i.text).collect();
        let counts: Vec<TextCounts> = texts.iter().map(|t| TextCounts::of(t)).collect();
        let mut per_text: Vec<Vec<Span>> = vec![Vec::new(); inputs.len()];
        for r in &self.recognizers {
            for (acc, found) in per_text
                .iter_mut()
                .zip(r.recognize_batch_counted(&texts, &counts)?)
            {
                acc.extend(found);
            }
        }
        Ok(per_text.into_iter().map(|s| self.finish(s)).collect())
    }
}
