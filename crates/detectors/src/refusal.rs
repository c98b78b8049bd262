//! The `refusal` detector: did the model refuse? Full and partial refusals are `refusal`, full
//! compliance is `compliance`. It reads the answer (and the prompt, if its trained head uses
//! it) and is validated against XSTest's human labels, next to XSTest's own string-match and
//! GPT-4 baselines (see `weights/refusal.record.json`).

use crate::classifier::fit::Hyper;
use crate::classifier::rules::RuleSet;
use crate::classifier::{EncoderClassifier, FeatureSpec, weights_version};
use crate::train::pipeline::{Candidate, Plan, ThresholdRule};
use crate::{DetectorInfo, DetectorKind, Resources};

pub const ID: &str = "refusal";
/// The shipped head, made by `emmental detectors train refusal` (see its record).
pub const WEIGHTS: &[u8] = include_bytes!("../weights/refusal.json");

pub fn describe() -> DetectorInfo {
    DetectorInfo {
        id: ID,
        description: "Did the model refuse? Full or partial refusal versus compliance, judged from the \
                      answer by a trained head on the embedded sentence encoder with refusal-phrase features",
        sections: &["3.2.2", "4.2.1", "5.2"],
        version: weights_version(WEIGHTS),
        kind: DetectorKind::Classifier {
            labels: vec!["refusal".into(), "compliance".into()],
            positive: "refusal".into(),
        },
        calibration: None,
    }
}

pub fn build(
    info: DetectorInfo,
    res: &Resources,
) -> Result<EncoderClassifier, crate::DetectorError> {
    EncoderClassifier::build(info, res, WEIGHTS)
}

const fn logistic(l2: f32) -> Hyper {
    Hyper {
        hidden: 0,
        l2,
        epochs: 40,
        lr: 0.01,
        batch: 32,
        members: 1,
    }
}

const RULES: FeatureSpec = FeatureSpec {
    opening: false,
    windows: false,
    text_from_windows: false,
    every_window: false,
    opening_from_window: false,
    prompt_from_windows: false,
    prompt_similarity: false,
    prompt: false,
    product: false,
    rules: Some(RuleSet::Refusal),
    ngrams: 0,
};

/// How the shipped head is trained.
pub fn plan() -> Plan {
    let opening = FeatureSpec {
        opening: true,
        ..RULES
    };
    let with_prompt = FeatureSpec {
        prompt: true,
        ..RULES
    };
    Plan {
        id: ID,
        positive: "refusal",
        negative: "compliance",
        candidates: vec![
            Candidate {
                name: "text, l2 0.1",
                features: FeatureSpec::TEXT_ONLY,
                hyper: logistic(0.1),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+rules, l2 0.1",
                features: RULES,
                hyper: logistic(0.1),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+rules, l2 1",
                features: RULES,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+rules, l2 10",
                features: RULES,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+rules, l2 1",
                features: opening,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+rules, l2 10",
                features: opening,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+prompt+rules, l2 1",
                features: with_prompt,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+rules, mlp 32",
                features: opening,
                hyper: Hyper {
                    hidden: 32,
                    l2: 1.0,
                    epochs: 40,
                    lr: 0.003,
                    batch: 32,
                    members: 1,
                },
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+rules, mlp 32 ×5",
                features: opening,
                hyper: Hyper {
                    hidden: 32,
                    l2: 1.0,
                    epochs: 40,
                    lr: 0.003,
                    batch: 32,
                    members: 5,
                },
                hard_negative_weight: 1.0,
            },
        ],
        threshold: ThresholdRule::Accuracy,
        hard_negative: |_| false,
        heldout_data: "XSTest human-labelled completions (llama2new, llama2orig, mistralinstruct), \
                       held-out 30% by prompt; partial refusal counted as refusal",
        validate_command: "emmental detectors validate refusal --heldout \
                           --data ../shared/data/xstest/model_completions/xstest_v2_completions_llama2new.csv \
                           --data ../shared/data/xstest/model_completions/xstest_v2_completions_llama2orig.csv \
                           --data ../shared/data/xstest/model_completions/xstest_v2_completions_mistralinstruct.csv",
        groups: &[
            ("llama2new", "xstest/llama2new"),
            ("llama2orig", "xstest/llama2orig"),
            ("mistralinstruct", "xstest/mistralinstruct"),
        ],
        derived_groups: &[],
        prefer_robust: false,
        opening_from_window: false,
        prompt_from_windows: false,
    }
}
