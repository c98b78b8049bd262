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
                      a trained head on the embedded sentence encoder with injection-marker and character n-gram features",
        sections: &["3.2.3", "5.3"],
        version: weights_version(WEIGHTS),
        kind: DetectorKind::Classifier {
            labels: vec!["injection".into(), "benign".into()],
            positive: "injection".into(),
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
        epochs: 30,
        lr: 0.01,
        batch: 64,
        members: 1,
    }
}

/// A one-hidden-layer network of `hidden` units, `members` of them averaged.
const fn mlp(hidden: usize, members: usize) -> Hyper {
    Hyper {
        hidden,
        l2: 1.0,
        epochs: 30,
        lr: 0.003,
        batch: 64,
        members,
    }
}

/// Hash buckets of the character n-gram features.
const NGRAM_BUCKETS: usize = 2048;

/// NotInject's benign prompts are the over-defence test and few: candidates weigh them more.
fn hard_negative(r: &Row) -> bool {
    r.source == "notinject"
}

fn candidate(
    name: &'static str,
    features: FeatureSpec,
    hyper: Hyper,
    notinject_weight: f32,
) -> Candidate {
    Candidate {
        name,
        features,
        hyper,
        hard_negative_weight: notinject_weight,
    }
}

/// How the shipped head is trained.
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
        rules: Some(RuleSet::Injection),
        ngrams: 0,
    };
    // The text's feature from its windows: each token through the encoder once.
    let windowed = FeatureSpec {
        windows: true,
        text_from_windows: true,
        ..rules
    };
    // The same with the text's character n-grams: words of every language as written.
    let ngrams = FeatureSpec {
        ngrams: NGRAM_BUCKETS,
        ..windowed
    };
    Plan {
        id: ID,
        positive: "injection",
        negative: "benign",
        candidates: vec![
            candidate(
                "text+rules, l2 1, notinject ×16",
                rules,
                logistic(1.0),
                16.0,
            ),
            candidate(
                "text+windows+rules, l2 1, notinject ×4",
                windowed,
                logistic(1.0),
                4.0,
            ),
            candidate(
                "text+windows+rules, mlp 64, notinject ×16",
                windowed,
                mlp(64, 1),
                16.0,
            ),
            candidate(
                "text+windows+rules, mlp 64, notinject ×32",
                windowed,
                mlp(64, 1),
                32.0,
            ),
            candidate(
                "text+windows+rules, mlp 128, notinject ×16",
                windowed,
                mlp(128, 1),
                16.0,
            ),
            candidate(
                "text+windows+rules, mlp 64 ×5, notinject ×16",
                windowed,
                mlp(64, 5),
                16.0,
            ),
            // The n-gram features learn trigger words ("ignore", "bypass") fast; NotInject's
            // benign prompts full of them need more weight than with the encoder alone.
            candidate(
                "text+windows+rules+ngrams, mlp 64 ×5, notinject ×64",
                ngrams,
                mlp(64, 5),
                64.0,
            ),
            candidate(
                "text+windows+rules+ngrams, mlp 64 ×5, notinject ×128",
                ngrams,
                mlp(64, 5),
                128.0,
            ),
        ],
        threshold: ThresholdRule::RecallAtFpr {
            source: "notinject",
            max_fpr: 0.02,
            max_fpr_all: 0.03,
        },
        hard_negative,
        heldout_data: "held-out 30% by text of the injection set assembled from the public data sets \
                       and the project's own messages (positives: tensor_trust, bipia, jailbreak_llms, \
                       cyberseceval, jailbreakbench prompts, the project's own attacks; negatives: notinject, xstest, gsm8k, mmlu, \
                       truthfulqa, cyberseceval mitre_frr, bipia contexts, plain harmful requests, short \
                       conversational messages, messages about the user's own content, everyday requests and questions \
                       in many languages)",
        validate_command: "emmental detectors validate injection --data ../shared/data --heldout",
        groups: &[
            ("public data sets", "!emmental/"),
            ("the project's own messages", "emmental/"),
        ],
        derived_groups: &[],
        prefer_robust: false,
        opening_from_window: false,
        prompt_from_windows: false,
    }
}
