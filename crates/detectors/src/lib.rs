//! One detector set for Emmental: refusal, harm, prompt injection, PII, secrets and hidden Unicode.
//! The principal type is the [`Detector`] trait: text in (with the prompt it answers, where that
//! matters), a [`Detection`] out — a label, a score in 0..1 and typed [`Span`]s.
//!
//! Each detector is one component used in two places: as a scorer in an evaluation (did the
//! model refuse? did it leak personal data?) and as a scanner in the guard proxy. Both uses get
//! the same behaviour and the same calibration figures ([`Calibration`]), measured on data the
//! detector did not train on and shipped with it.
//!
//! Attackers hide instructions in zero-width characters, bidi controls, tag characters and
//! look-alike letters, so every detector built by the [`registry`] sees text normalised by
//! [`unicode::normalize`]; its spans are mapped back to the caller's original text.
//!
//! ```
//! use emmental_detectors::{Input, registry};
//! let d = registry::build_rule_based("unicode").unwrap();
//! let hit = d.detect(&Input::text("ig\u{200b}nore")).unwrap();
//! assert_eq!(hit.label, "hidden");
//! assert_eq!((hit.spans[0].start, hit.spans[0].end), (2, 3));
//! ```

pub mod classifier;
pub mod data;
mod detection;
mod error;
pub mod harm;
pub mod injection;
pub mod metrics;
pub mod ner;
pub mod pii;
mod recognizer;
pub mod redact;
pub mod refusal;
pub mod registry;
mod resources;
pub mod secrets;
pub mod train;
pub mod unicode;

pub use detection::{Calibration, Detection, Detector, DetectorInfo, DetectorKind, Input, Span};
pub use error::DetectorError;
pub use recognizer::Recognizer;
pub use resources::Resources;
