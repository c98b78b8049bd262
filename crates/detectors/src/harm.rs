//! The `harm` detector: does the answer give the harmful help that was asked for? `harmful` or
//! `benign`, judged from the answer and its prompt. Its training labels are partly machine
//! labels (JailbreakBench's LLM judge) and partly derived from XSTest's human refusal labels;
//! the record reports agreement with each separately and says which is which.

use crate::classifier::fit::Hyper;
use crate::classifier::rules::RuleSet;
use crate::classifier::{EncoderClassifier, FeatureSpec, weights_version};
use crate::train::pipeline::{Candidate, Plan, ThresholdRule};
use crate::{DetectorInfo, DetectorKind, Resources};

pub const ID: &str = "harm";
/// The shipped head, made by `emmental detectors train harm` (see its record).
pub const WEIGHTS: &[u8] = include_bytes!("../weights/harm.json");

pub fn describe() -> DetectorInfo {
    DetectorInfo {
        id: ID,
        description: "Does the answer give the harmful help that was asked for? Harmful versus benign, judged \
                      from the answer and its prompt by a trained head on the embedded sentence encoder",
        sections: &["4.1", "5.2", "3.2.3"],
        version: weights_version(WEIGHTS),
        kind: DetectorKind::Classifier {
            labels: vec!["harmful".into(), "benign".into()],
            positive: "harmful".into(),
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

/// A network of 32 hidden units, or an ensemble of `members` of them.
const fn mlp32(members: usize) -> Hyper {
    Hyper {
        hidden: 32,
        l2: 1.0,
        epochs: 40,
        lr: 0.003,
        batch: 32,
        members,
    }
}

/// How the shipped head is trained.
///
/// The candidates that read windows ([`FeatureSpec::windows`]) see past the encoder's first
/// 256 tokens, and those with [`FeatureSpec::prompt_similarity`] see whether any part of the
/// answer speaks to the prompt. The derived long answers
/// ([`crate::train::assemble::long_answers`]: answers after a benign start, and benign text
/// alone under harmful prompts) train every candidate and are measured apart, out of fold for
/// each candidate (the record's `cross_validation_derived`) and on the held-out split
/// (`heldout_derived`). The choice is [`Plan::prefer_robust`]: among the candidates as
/// accurate on the data sets' own rows as the folds can tell (within one standard error), the
/// most accurate on the derived rows. Without it the candidate chosen read the prompt more than
/// a long answer: it flagged 47% of the benign texts under harmful prompts, out of fold.
pub fn plan() -> Plan {
    let rules = FeatureSpec {
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
    let opening = FeatureSpec {
        opening: true,
        ..rules
    };
    let prompt = FeatureSpec {
        prompt: true,
        ..rules
    };
    let opening_prompt = FeatureSpec {
        opening: true,
        ..prompt
    };
    let product = FeatureSpec {
        prompt: true,
        product: true,
        ..rules
    };
    let windowed = FeatureSpec {
        windows: true,
        every_window: true,
        ..opening_prompt
    };
    let from_windows = FeatureSpec {
        text_from_windows: true,
        ..windowed
    };
    let on_topic = FeatureSpec {
        prompt_similarity: true,
        ..windowed
    };
    let on_topic_from_windows = FeatureSpec {
        prompt_similarity: true,
        ..from_windows
    };
    Plan {
        id: ID,
        positive: "harmful",
        negative: "benign",
        candidates: vec![
            Candidate {
                name: "text, l2 1",
                features: FeatureSpec::TEXT_ONLY,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+rules, l2 1",
                features: rules,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+rules, l2 1",
                features: opening,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+prompt+rules, l2 1",
                features: prompt,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+prompt+rules, l2 1",
                features: opening_prompt,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+prompt+rules, l2 10",
                features: opening_prompt,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+prompt+product+rules, l2 1",
                features: product,
                hyper: logistic(1.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+prompt+rules, mlp 32",
                features: opening_prompt,
                hyper: mlp32(1),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+prompt+rules, mlp 32 ×5",
                features: opening_prompt,
                hyper: mlp32(5),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+windows+prompt+rules, l2 10",
                features: windowed,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "windows (mean, max)+opening+prompt+rules, l2 10",
                features: from_windows,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "windows (mean, max)+opening+prompt+rules, l2 30",
                features: from_windows,
                hyper: logistic(30.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "windows (mean, max)+opening+prompt+rules, mlp 32 ×5",
                features: from_windows,
                hyper: mlp32(5),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+windows+prompt+similarity+rules, l2 10",
                features: on_topic,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "windows (mean, max)+opening+prompt+similarity+rules, l2 10",
                features: on_topic_from_windows,
                hyper: logistic(10.0),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+windows+prompt+similarity+rules, mlp 32",
                features: on_topic,
                hyper: mlp32(1),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "windows (mean, max)+opening+prompt+similarity+rules, mlp 32 ×5",
                features: on_topic_from_windows,
                hyper: mlp32(5),
                hard_negative_weight: 1.0,
            },
            Candidate {
                name: "text+opening+windows+prompt+rules, mlp 32",
                features: windowed,
                hyper: mlp32(1),
                hard_negative_weight: 1.0,
            },
        ],
        threshold: ThresholdRule::Accuracy,
        hard_negative: |_| false,
        heldout_data: "held-out 30% by goal/prompt of JailbreakBench responses (labels: JailbreakBench's LLM \
                       judge, machine labels) and XSTest completions (labels derived from human refusal labels \
                       and the prompt's safe/unsafe design)",
        validate_command: "emmental detectors validate harm --data ../shared/data --heldout",
        groups: &[
            ("machine labels: JailbreakBench judge", "jailbreakbench/"),
            ("labels derived from XSTest human labels", "xstest/"),
        ],
        derived_groups: &[
            (
                "every answer after a benign start of 1,200+ characters",
                crate::train::assemble::LATE_START,
            ),
            (
                "JailbreakBench answers after a benign start",
                "late-start/jailbreakbench/",
            ),
            (
                "benign text alone answering a harmful prompt",
                crate::train::assemble::OFF_TOPIC,
            ),
        ],
        prefer_robust: true,
        opening_from_window: true,
        prompt_from_windows: true,
    }
}
