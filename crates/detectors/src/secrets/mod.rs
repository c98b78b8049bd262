//! Credentials in text: the `secrets` detector. It finds
//!
//! - tokens with a vendor format ([`formats`]): AWS access key ids, GitHub tokens (CRC-32
//!   checksum verified), npm, GitLab, Slack, Stripe, Google, OpenAI, Anthropic, Hugging Face
//!   and SendGrid keys, PEM private key blocks, JSON Web Tokens, passwords in URLs
//!   (`postgres://app:hunter2@db`) and bearer tokens;
//! - values in assignments ([`assign`]): whatever is assigned to a secret-named key, and random-
//!   looking values assigned to any key (`password = "…"`, `api_key: …`, `export TOKEN=…`,
//!   JSON and YAML keys), plus long random quoted strings in code.
//!
//! Placeholders are not secrets and are not reported: `xxx`, `****`, `<your key>`, `${VAR}`,
//! `changeme`, `AKIAXXXXXXXXXXXXXXXX`, a PEM block whose body is `...`. Published example
//! credentials (AWS's `AKIAIOSFODNN7EXAMPLE` and `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`,
//! jwt.io's sample token) are reported at score 0.5, the default threshold: a guard tested with
//! them fires, and a stricter threshold drops them. Allow-list comments such as detect-secrets'
//! `# pragma: allowlist secret` are not honoured: in a model's output they would let the model
//! (or an attacker steering it) switch the detector off.
//!
//! ```
//! use emmental_detectors::{Input, registry};
//! let d = registry::build_rule_based("secrets").unwrap();
//! let hit = d.detect(&Input::text("export DB_PASSWORD='Tr0ub4dor&3'")).unwrap();
//! assert_eq!((hit.label.as_str(), hit.spans[0].kind.as_str()), ("secret", "SECRET"));
//! assert_eq!(d.detect(&Input::text("password = ${DB_PASSWORD}")).unwrap().label, "clean");
//! ```

pub mod assign;
pub mod baseline;
pub mod entropy;
pub mod formats;

use crate::{
    Detection, Detector, DetectorError, DetectorInfo, DetectorKind, Input, Recognizer, Span,
};

/// The default reporting threshold.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// The recognizers of the `secrets` detector.
pub fn recognizers() -> Vec<Box<dyn Recognizer>> {
    vec![
        Box::new(formats::known_formats()),
        Box::new(assign::Assignments::new()),
    ]
}

/// The `secrets` detector's description.
pub fn describe() -> DetectorInfo {
    let mut types: Vec<String> = recognizers().iter().flat_map(|r| r.types()).collect();
    types.sort();
    types.dedup();
    DetectorInfo {
        id: "secrets",
        description: "Credentials: vendor API keys and tokens (GitHub checksum verified), private key blocks, \
                      JWTs, passwords in URLs, and secret or random values in assignments",
        sections: &["4.3.5", "5.3"],
        version: "1".into(),
        kind: DetectorKind::Spans { types },
        calibration: None,
    }
}

/// Overlapping findings: a vendor format over the generic `SECRET` of the assignment holding
/// it, then the higher score, then the longer span.
fn resolve(mut spans: Vec<Span>) -> Vec<Span> {
    let rank = |s: &Span| (s.kind != "SECRET", (s.score * 1000.0) as u32, s.len());
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

/// Credentials in a text: label `secret` or `clean`.
pub struct SecretsDetector {
    info: DetectorInfo,
    recognizers: Vec<Box<dyn Recognizer>>,
    threshold: f32,
}

impl SecretsDetector {
    pub fn new(info: DetectorInfo) -> Self {
        Self {
            info,
            recognizers: recognizers(),
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Reports findings scoring at least `t` (default [`DEFAULT_THRESHOLD`]); above 0.5 the
    /// published example credentials are dropped.
    pub fn with_threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }
}

impl Detector for SecretsDetector {
    fn info(&self) -> &DetectorInfo {
        &self.info
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        let mut spans = Vec::new();
        for r in &self.recognizers {
            spans.extend(
                r.recognize(input.text)?
                    .into_iter()
                    .filter(|s| s.score >= self.threshold),
            );
        }
        Ok(Detection::spans("secret", resolve(spans)))
    }
}
