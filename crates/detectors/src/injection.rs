//! The `injection` detector: is this input a prompt injection or a jailbreak attempt? It
//! judges what goes into a model (a user prompt, or content retrieved on the user's behalf):
//! `injection` or `benign`. Plain harmful requests are `benign` here — they try no trick on
//! the model's instructions; the refusal and harm detectors judge what the model does with them.
//! Its threshold is set for a small over-defence budget on NotInject-style benign prompts that
//! are full of trigger words ("ignore", "bypass", "developer mode").

use crate::classifier::fit::Hyper;
use crate::classifier::rules::RuleSet;
use crate::classifier::{EncoderClassifier, FeatureSpec, weights_version};
use crate::train::assemble::Row;
use crate::train::pipeline::{Candidate, Plan, ThresholdRule};
use crate::{DetectorInfo, DetectorKind, Resources};

pub const ID: &str = "injection";
/// The shipped head, made by `emmental detectors train injection` (see its record).
pub const WEIGHTS: &[u8] = include_bytes!("../weights/injection.json");

pub fn describe() -> DetectorInfo {
    DetectorInfo {
        id: ID,
        description: "Is this input a prompt injection or jailbreak attempt? Injection versus benign, judged by \
                      a trained head on the embedded sentence encoder with injection-marker features",
        sections: &["3.2.3", "5.3"],
        version: weights_version(WEIGHTS),
        kind: DetectorKind::Classifier {
            labels: vec!["injection".into(), "benign".into()],
            positive: "injection".into(),
        },
        calibration: None,
    }
}

pub fn build(info: DetectorInfo, res: &Resources) -> Result<EncoderClassifier, crate::DetectorError> {
    EncoderClassifier::build(info, res, WEIGHTS)
}

const fn logistic(l2: f32) -> Hyper {
    Hyper {
        hidden: 0,
        l2,
        epochs: 30,
        lr: 0.01,
        batch: 64,
    }
}

/// NotInject's benign prompts are the over-defence test and few: they weigh more.
fn source_weight(r: &Row) -> f32 {
    if r.source == "notinject" { 4.0 } else { 1.0 }
}

/// How the shipped head is trained.
pub fn plan() -> Plan {
    let rules = FeatureSpec {
        opening: false,
        windows: false,
        prompt: false,
        product: false,
        rules: Some(RuleSet::Injection),
    };
    let windowed = FeatureSpec { windows: true, ..rules };
    let windows_only = FeatureSpec {
        windows: true,
        ..FeatureSpec::TEXT_ONLY
    };
    Plan {
        id: ID,
        positive: "injection",
        negative: "benign",
        candidates: vec![
            Candidate { name: "text, l2 0.1", features: FeatureSpec::TEXT_ONLY, hyper: logistic(0.1) },
            Candidate { name: "text+rules, l2 1", features: rules, hyper: logistic(1.0) },
            Candidate { name: "text+windows, l2 1", features: windows_only, hyper: logistic(1.0) },
            Candidate { name: "text+windows+rules, l2 0.1", features: windowed, hyper: logistic(0.1) },
            Candidate { name: "text+windows+rules, l2 1", features: windowed, hyper: logistic(1.0) },
            Candidate {
                name: "text+windows+rules, mlp 64",
                features: windowed,
                hyper: Hyper { hidden: 64, l2: 1.0, epochs: 30, lr: 0.003, batch: 64 },
            },
        ],
        threshold: ThresholdRule::RecallAtFpr {
            source: "notinject",
            max_fpr: 0.02,
        },
        source_weight,
        heldout_data: "held-out 30% by text of the injection set assembled from the public data sets \
                       (positives: tensor_trust, bipia, jailbreak_llms, cyberseceval, jailbreakbench prompts; \
                       negatives: notinject, xstest, gsm8k, mmlu, truthfulqa, cyberseceval mitre_frr, bipia \
                       contexts, plain harmful requests)",
        validate_command: "emmental detectors validate injection --data ../shared/data --heldout",
        groups: &[],
    }
}
