//! Every detector Emmental ships, by stable id, with its metadata and shipped calibration.
//!
//! Rule-based detectors build with no model; encoder-based ones need the embedded encoder
//! (`local/all-minilm-l6-v2`), passed in by the caller so one loaded encoder serves them all.

use std::sync::Arc;

use crate::unicode::{HiddenText, Normalizing};
use crate::{Calibration, Detector, DetectorError, DetectorInfo, Resources};

/// One registered detector.
pub struct Entry {
    pub id: &'static str,
    /// Whether building it needs the encoder.
    pub needs_encoder: bool,
    /// Its metadata without calibration figures.
    pub describe: fn() -> DetectorInfo,
    /// The shipped calibration record (JSON), measured by `emmental detectors validate`.
    calibration: Option<&'static str>,
}

/// The registry, in the order the CLI lists it.
pub const DETECTORS: &[Entry] = &[
    Entry {
        id: "unicode",
        needs_encoder: false,
        describe: HiddenText::describe,
        calibration: Some(include_str!("../calibration/unicode.json")),
    },
    Entry {
        id: "pii.rules",
        needs_encoder: false,
        describe: crate::pii::describe,
        calibration: Some(include_str!("../calibration/pii.rules.json")),
    },
    Entry {
        id: "secrets",
        needs_encoder: false,
        describe: crate::secrets::describe,
        calibration: Some(include_str!("../calibration/secrets.json")),
    },
    Entry {
        id: "pii",
        needs_encoder: true,
        describe: crate::pii::describe_full,
        calibration: Some(include_str!("../calibration/pii.json")),
    },
    Entry {
        id: crate::ner::ID,
        needs_encoder: true,
        describe: crate::ner::NerDetector::describe,
        calibration: Some(include_str!("../calibration/pii.ner.json")),
    },
    Entry {
        id: "refusal",
        needs_encoder: true,
        describe: crate::refusal::describe,
        calibration: Some(include_str!("../calibration/refusal.json")),
    },
    Entry {
        id: "harm",
        needs_encoder: true,
        describe: crate::harm::describe,
        calibration: Some(include_str!("../calibration/harm.json")),
    },
    Entry {
        id: "injection",
        needs_encoder: true,
        describe: crate::injection::describe,
        calibration: Some(include_str!("../calibration/injection.json")),
    },
];

/// The ids, comma-separated, for error messages.
pub fn known() -> String {
    DETECTORS
        .iter()
        .map(|e| e.id)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn entry(id: &str) -> Result<&'static Entry, DetectorError> {
    DETECTORS
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| DetectorError::Unknown {
            name: id.to_string(),
            known: known(),
        })
}

/// The shipped calibration figures of a detector, if it has any.
pub fn calibration(id: &str) -> Result<Option<Calibration>, DetectorError> {
    let e = entry(id)?;
    e.calibration
        .map(|json| {
            serde_json::from_str(json).map_err(|err| DetectorError::Load {
                detector: id.to_string(),
                message: format!("shipped calibration record does not parse: {err}"),
            })
        })
        .transpose()
}

/// Metadata with calibration, as logs and `emmental detectors list` show it.
pub fn info(id: &str) -> Result<DetectorInfo, DetectorError> {
    let mut info = (entry(id)?.describe)();
    info.calibration = calibration(id)?;
    Ok(info)
}

/// Builds a detector. Encoder-based detectors need `encoder`; every detector but `unicode`
/// sees Unicode-normalised text.
pub fn build(id: &str, res: &Resources) -> Result<Arc<dyn Detector>, DetectorError> {
    let e = entry(id)?;
    let info = info(id)?;
    if e.needs_encoder {
        res.encoder(id)?;
    }
    Ok(match id {
        "unicode" => Arc::new(HiddenText::new(info)),
        "pii.rules" => normalizing(crate::pii::rules_detector(info)),
        "secrets" => normalizing(crate::secrets::SecretsDetector::new(info)),
        "pii" => normalizing(crate::pii::full_detector(
            info,
            crate::ner::NerRecognizer::from_resources(res)?,
        )),
        crate::ner::ID => normalizing(crate::ner::NerDetector::new(
            info,
            crate::ner::NerRecognizer::from_resources(res)?,
        )),
        "refusal" | "harm" | "injection" => normalizing(classifier(id, res)?),
        _ => unreachable!("every registry entry has a builder"),
    })
}

/// Builds an encoder classifier (`refusal`, `harm`, `injection`) as itself, without the
/// Unicode normalisation [`build`] puts in front of it.
pub fn classifier(
    id: &str,
    res: &Resources,
) -> Result<crate::classifier::EncoderClassifier, DetectorError> {
    let info = info(id)?;
    match id {
        "refusal" => crate::refusal::build(info, res),
        "harm" => crate::harm::build(info, res),
        "injection" => crate::injection::build(info, res),
        _ => Err(DetectorError::Unknown {
            name: id.to_string(),
            known: "refusal, harm, injection".into(),
        }),
    }
}

/// Builds a detector that needs no model (errors for encoder-based ones).
pub fn build_rule_based(id: &str) -> Result<Arc<dyn Detector>, DetectorError> {
    build(id, &Resources::default())
}

fn normalizing<D: Detector + 'static>(d: D) -> Arc<dyn Detector> {
    Arc::new(Normalizing { inner: d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_unknown_ids_list_the_known_ones() {
        let mut ids: Vec<_> = DETECTORS.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DETECTORS.len());
        let err = entry("nope").err().unwrap().to_string();
        assert!(err.contains("unicode"), "{err}");
    }

    #[test]
    fn every_detector_has_id_description_sections_and_version() {
        for e in DETECTORS {
            let info = info(e.id).unwrap();
            assert_eq!(info.id, e.id);
            assert!(info.description.len() > 20, "{}: description", e.id);
            assert!(!info.sections.is_empty(), "{}: report sections", e.id);
            for s in info.sections {
                assert!(
                    emmental_core::taxonomy::section(s).is_some(),
                    "{}: section {s} is not in the report taxonomy",
                    e.id
                );
            }
            assert!(!info.version.is_empty());
        }
    }
}
