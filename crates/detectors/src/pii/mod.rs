//! Personal data: rule-based recognizers for the structured entity types, and the
//! [`PiiDetector`] that combines them (and, later, a model-based recognizer for names, places
//! and organisations) into one detector, registered as `pii.rules`.
//!
//! Each recognizer pairs a pattern with validation: card numbers must pass Luhn and carry a
//! known issuer prefix, IBANs must have their country's length and pass mod-97, Bitcoin
//! addresses their double-SHA-256 or Bech32 checksum, Ethereum addresses EIP-55 when written in
//! mixed case, national ids their check digits or allocation rules. A validated match scores
//! high (0.9 and more); a shape without validation scores lower; words near the match
//! ([`context`]) raise or lower the score, as Presidio's context enhancer does. Spans scoring
//! below the threshold (default 0.5) are not reported. Entity types use Presidio's names
//! (`EMAIL_ADDRESS`, `PHONE_NUMBER`, `CREDIT_CARD`, `IBAN_CODE`, `US_SSN`, `DATE_TIME` …), so
//! results compare with Presidio's.
//!
//! Documentation examples are recognised but score below the threshold: addresses at
//! `example.com` and the other reserved domains, published test card numbers
//! (`4111 1111 1111 1111`) and SSNs the SSA never issued (`078-05-1120`).
//!
//! ```
//! use emmental_detectors::{Input, registry};
//! let d = registry::build_rule_based("pii.rules").unwrap();
//! let hit = d.detect(&Input::text("Mail jo.bloggs@acme.co.uk or call +44 20 7946 0958.")).unwrap();
//! assert_eq!(hit.label, "pii");
//! let kinds: Vec<&str> = hit.spans.iter().map(|s| s.kind.as_str()).collect();
//! assert_eq!(kinds, ["EMAIL_ADDRESS", "PHONE_NUMBER"]);
//! ```

pub mod checksum;
pub mod context;
mod contextual;
mod datetime;
mod detector;
mod finance;
pub mod national;
pub mod needs;
mod network;
mod phone;
pub(crate) mod rules;

pub use detector::{DEFAULT_THRESHOLD, PiiDetector, resolve_overlaps};
pub use network::is_example_domain;

use crate::{DetectorInfo, DetectorKind, Recognizer};

/// Every rule-based recognizer, one per entity family.
pub fn rule_recognizers() -> Vec<Box<dyn Recognizer>> {
    rule_sets()
        .into_iter()
        .map(|r| Box::new(r) as Box<dyn Recognizer>)
        .collect()
}

pub(crate) fn rule_sets() -> Vec<rules::RuleRecognizer> {
    vec![
        network::email(),
        network::url(),
        network::ip(),
        network::mac(),
        phone::phone(),
        finance::card(),
        finance::iban(),
        finance::crypto(),
        national::us_ssn(),
        national::uk(),
        national::europe(),
        national::asia_pacific_americas(),
        national::named_ids(),
        datetime::date_time(),
        contextual::age(),
        contextual::zip_code(),
    ]
}

/// The `pii.rules` detector's description (types are filled in from its recognizers).
pub fn describe() -> DetectorInfo {
    let types = {
        let mut t: Vec<String> = rule_recognizers().iter().flat_map(|r| r.types()).collect();
        t.sort();
        t.dedup();
        t
    };
    DetectorInfo {
        id: "pii.rules",
        description: "Personal data of structured types found by validated patterns with context words: \
                      e-mail, phone, payment card (Luhn), IBAN (mod-97), IP, URL, dates, national ids \
                      with their check digits, crypto addresses, ages and postcodes",
        sections: &["4.3.5", "5.5"],
        version: "1".into(),
        kind: DetectorKind::Spans { types },
        calibration: None,
    }
}

/// The `pii.rules` detector.
pub fn rules_detector(info: DetectorInfo) -> PiiDetector {
    PiiDetector::new(info, rule_recognizers())
}

/// The full `pii` detector's description: the rules and the NER head together.
pub fn describe_full() -> DetectorInfo {
    let mut info = crate::ner::NerDetector::describe();
    let rules = describe();
    let mut types: Vec<String> = match (&rules.kind, &info.kind) {
        (DetectorKind::Spans { types: a }, DetectorKind::Spans { types: b }) => {
            a.iter().chain(b).cloned().collect()
        }
        _ => unreachable!("both are span detectors"),
    };
    types.sort();
    types.dedup();
    info.id = "pii";
    info.description = "Personal data: structured types by validated patterns with context words (e-mail, \
                        phone, card, IBAN, IP, URL, dates, national ids, crypto addresses, ages, postcodes) \
                        and names, places, organisations, street addresses, titles and groups by the NER head \
                        on the embedded encoder";
    info.version = format!("rules-{}+{}", rules.version, info.version);
    info.kind = DetectorKind::Spans { types };
    info
}

/// The full `pii` detector: the rules plus the NER head.
pub fn full_detector(info: DetectorInfo, ner: crate::ner::NerRecognizer) -> PiiDetector {
    PiiDetector::new(info, rule_recognizers()).with(Box::new(ner))
}
