//! `emmental detectors train pii.ner`: the NER head from generated sentences, the training
//! part of Presidio's synthetic PII set and the training part of the project's messages in 30
//! languages ([`multilingual`]), validated on the held-out parts of both sets.
//!
//! Reproducible: the sentences, the initial weights, the shuffling and dropout all come from
//! the seed; training runs on one thread in a fixed order; the encoder's forward pass gives the
//! same bits whatever the thread count. The same command on the same kind of machine writes the
//! same file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::head::{self, Examples, HeadWeights, TrainSettings};
use super::{NerDetector, NerRecognizer, TYPES, WEIGHTS_NAME, features, multilingual, synth};
use crate::data::{self, split_bucket};
use crate::metrics::{SpanDoc, SpanReport, canonical_type};
use crate::train::{TrainOptions, TrainReport};
use crate::unicode::Normalizing;
use crate::{Calibration, Detector, DetectorError, Input, Resources};

/// The Presidio file, relative to the data directory.
pub const PRESIDIO: &str = "presidio_synth_pii/synth_dataset_v2.json";

/// What to train (the defaults are what ships).
#[derive(Debug, Clone, Serialize)]
pub struct NerTrainConfig {
    /// Encoder layer whose token states the head reads.
    pub layer: usize,
    /// Generated sentences.
    pub synthetic: usize,
    /// Weight of each Presidio training token relative to a generated one.
    pub presidio_weight: f32,
    /// Weight of each token of the project's multilingual messages (training split) relative
    /// to a generated one; 0 leaves them out of training.
    pub multilingual_weight: f32,
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub dropout: f32,
    /// Span score threshold (fixed, not tuned on held-out data).
    pub threshold: f32,
    /// When set, this share of the Presidio training rows is kept out of training and
    /// reported as a development split (for choosing settings without touching held-out rows).
    pub dev_fraction: Option<f64>,
    /// Use only this many Presidio training rows (for quick tests); all when unset.
    pub limit_presidio: Option<usize>,
}

impl Default for NerTrainConfig {
    fn default() -> Self {
        Self {
            layer: 4,
            synthetic: 6000,
            presidio_weight: 2.0,
            multilingual_weight: 3.0,
            hidden: 128,
            epochs: 12,
            batch: 128,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            dropout: 0.1,
            threshold: 0.5,
            dev_fraction: None,
            limit_presidio: None,
        }
    }
}

fn tag_names() -> Vec<String> {
    let mut tags = vec!["O".to_string()];
    for t in TYPES {
        tags.push(format!("B-{t}"));
        tags.push(format!("I-{t}"));
    }
    tags
}

/// BIO tag index of each token (`offsets` in bytes) from gold spans; spans of types the head
/// does not emit are `O`.
fn bio_labels(offsets: &[(usize, usize)], spans: &[crate::Span]) -> Vec<usize> {
    let mut y = vec![0usize; offsets.len()];
    for s in spans {
        let kind = canonical_type(&s.kind);
        let Some(t) = TYPES.iter().position(|x| *x == kind) else {
            continue;
        };
        let mut first = true;
        for (i, &(ts, te)) in offsets.iter().enumerate() {
            let inside = ts < s.byte_end && te > s.byte_start && ts >= s.byte_start;
            if inside && y[i] == 0 {
                y[i] = if first { 1 + 2 * t } else { 2 + 2 * t };
                first = false;
            }
        }
    }
    y
}

/// Token inputs and labels of documents, with one weight for all their tokens.
fn add_examples(
    ex: &mut Examples,
    docs: &[&SpanDoc],
    weight: f32,
    rec_layer: usize,
    res: &Resources,
) -> Result<usize, DetectorError> {
    let encoder = res.encoder(super::ID)?;
    let mut tokens = 0;
    for chunk in docs.chunks(64) {
        let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
        let states = encoder.token_states_blocking(&texts, rec_layer)?;
        for (doc, st) in chunk.iter().zip(&states) {
            let offsets: Vec<(usize, usize)> = st.tokens.iter().map(|t| (t.start, t.end)).collect();
            let shape = features::token_features(&doc.text, &offsets);
            for i in 0..offsets.len() {
                ex.x.extend_from_slice(st.state(i));
                ex.x.extend_from_slice(&shape[i * features::COUNT..(i + 1) * features::COUNT]);
            }
            ex.y.extend(bio_labels(&offsets, &doc.spans));
            ex.weight.extend(std::iter::repeat_n(weight, offsets.len()));
            tokens += offsets.len();
        }
    }
    Ok(tokens)
}

/// Span figures of a detector on documents, over the head's types.
pub fn evaluate(detector: &dyn Detector, docs: &[SpanDoc]) -> Result<SpanReport, DetectorError> {
    let mut predicted = Vec::with_capacity(docs.len());
    for chunk in docs.chunks(32) {
        let inputs: Vec<Input<'_>> = chunk.iter().map(|d| Input::text(&d.text)).collect();
        predicted.extend(detector.detect_batch(&inputs)?.into_iter().map(|d| d.spans));
    }
    let types: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
    Ok(SpanReport::compute(docs, &predicted, Some(&types)))
}

/// Loads Presidio's set and splits it: (training rows, held-out rows).
pub fn presidio_split(data_dir: &Path) -> Result<(Vec<SpanDoc>, Vec<SpanDoc>), DetectorError> {
    let path = data_dir.join(PRESIDIO);
    if !path.is_file() {
        return Err(DetectorError::Io {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "Presidio's synth_dataset_v2.json is needed to train pii.ner; point --data-dir at the public data sets",
            ),
        });
    }
    let docs = data::load_spans(&path)?;
    Ok(docs.into_iter().partition(|d| !data::is_heldout(&d.text)))
}

/// The figures the record and the calibration file carry.
fn figures(r: &SpanReport) -> serde_json::Value {
    let types: BTreeMap<&String, serde_json::Value> = r
        .types
        .iter()
        .filter(|(k, _)| TYPES.contains(&k.as_str()))
        .map(|(k, p)| {
            (
                k,
                serde_json::json!({
                    "precision": p.precision.value, "recall": p.recall.value, "f1": p.f1.value,
                    "f1_ci": [p.f1.ci_low, p.f1.ci_high], "gold": p.support, "predicted": p.predicted,
                }),
            )
        })
        .collect();
    let s = r.supported.as_ref().unwrap_or(&r.overall);
    serde_json::json!({
        "documents": r.documents,
        "supported_types": {
            "precision": s.precision.value, "recall": s.recall.value, "f1": s.f1.value,
            "f1_ci": [s.f1.ci_low, s.f1.ci_high], "gold": s.support, "predicted": s.predicted,
        },
        "types": types,
    })
}

/// Trains with the shipped settings.
pub fn train(opts: &TrainOptions, res: &Resources) -> Result<TrainReport, DetectorError> {
    train_with(opts, res, &NerTrainConfig::default())
}

/// Trains with `cfg`, writes `ner.json` and `ner.record.json` to `opts.out_dir`.
pub fn train_with(
    opts: &TrainOptions,
    res: &Resources,
    cfg: &NerTrainConfig,
) -> Result<TrainReport, DetectorError> {
    let encoder = res.encoder(super::ID)?;
    let (mut presidio_train, heldout) = presidio_split(&opts.data_dir)?;
    if let Some(n) = cfg.limit_presidio {
        presidio_train.truncate(n);
    }
    let in_fit = |text: &str| match cfg.dev_fraction {
        Some(f) => (split_bucket(&format!("dev:{text}"), 1000) as f64) >= f * 1000.0,
        None => true,
    };
    let (fit, dev): (Vec<&SpanDoc>, Vec<&SpanDoc>) =
        presidio_train.iter().partition(|d| in_fit(&d.text));
    let generated = synth::generate(opts.seed, cfg.synthetic);
    let tags = tag_names();
    let mut ex = Examples {
        x: Vec::new(),
        y: Vec::new(),
        weight: Vec::new(),
        dim: encoder.dim() + features::COUNT,
    };
    let synth_refs: Vec<&SpanDoc> = generated.iter().collect();
    let synth_tokens = add_examples(&mut ex, &synth_refs, 1.0, cfg.layer, res)?;
    let presidio_tokens = add_examples(&mut ex, &fit, cfg.presidio_weight, cfg.layer, res)?;
    let (ml_train, ml_heldout) = multilingual::split();
    // With a development split, the same share of the training messages is kept out too.
    let (ml_fit, ml_dev): (Vec<multilingual::Message>, Vec<multilingual::Message>) =
        ml_train.iter().cloned().partition(|m| in_fit(&m.doc.text));
    let ml_refs: Vec<&SpanDoc> = if cfg.multilingual_weight > 0.0 {
        ml_fit.iter().map(|m| &m.doc).collect()
    } else {
        Vec::new()
    };
    let ml_tokens = add_examples(&mut ex, &ml_refs, cfg.multilingual_weight, cfg.layer, res)?;
    let settings = TrainSettings {
        hidden: cfg.hidden,
        epochs: cfg.epochs,
        batch: cfg.batch,
        learning_rate: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        dropout: cfg.dropout,
        seed: opts.seed,
    };
    let t = head::train(&ex, tags.len(), &settings);
    let mut weights = HeadWeights {
        format: head::FORMAT.into(),
        encoder: "all-minilm-l6-v2".into(),
        layer: cfg.layer,
        state_dim: encoder.dim(),
        shape_features: features::NAMES.iter().map(|s| s.to_string()).collect(),
        tags,
        hidden: cfg.hidden,
        input_mean: t.input_mean,
        input_scale: t.input_scale,
        w1: t.w1,
        b1: t.b1,
        w2: t.w2,
        b2: t.b2,
        threshold: cfg.threshold,
        record: serde_json::Value::Null,
    };
    let data_record = serde_json::json!({
        "presidio": {
            "file": PRESIDIO,
            "training_rows": fit.len(),
            "development_rows": dev.len(),
            "heldout_rows": heldout.len(),
            "split": "data::is_heldout(text): 30% of rows by SHA-256 of the text; held-out rows are never trained on",
            "tokens": presidio_tokens,
            "token_weight": cfg.presidio_weight,
        },
        "synthetic": {
            "sentences": generated.len(),
            "templates": synth::template_count(),
            "tokens": synth_tokens,
            "generator": "ner::synth with the training seed",
        },
        "multilingual": {
            "source": multilingual::SOURCE,
            "file": multilingual::FILE,
            "written": "for Emmental: everyday messages in 30 languages, most naming no one (greetings, thanks, requests, polite pronouns, capitalised verbs and nouns), the rest naming invented people, streets and companies; entities marked inline, offsets computed at load",
            "split": "data::is_heldout(text): 30% of messages by SHA-256 of the text; held-out messages are never trained on",
            "training": multilingual::describe(&ml_fit),
            "development": ml_dev.len(),
            "heldout": multilingual::describe(&ml_heldout),
            "trained_on": !ml_refs.is_empty(),
            "tokens": ml_tokens,
            "token_weight": cfg.multilingual_weight,
        },
    });
    let mut record = serde_json::json!({
        "command": format!("emmental detectors train pii.ner --data-dir DATA --seed {}", opts.seed),
        "seed": opts.seed,
        "config": cfg,
        "data": data_record,
        "losses": t.losses,
    });
    weights.record = record.clone();
    let bytes = serde_json::to_vec(&weights).map_err(|e| DetectorError::Inference {
        detector: super::ID.into(),
        message: format!("cannot serialise weights: {e}"),
    })?;
    // Validate exactly as the shipped detector runs: built from these bytes, behind the
    // Unicode normaliser.
    let recognizer = NerRecognizer::new(encoder.clone(), &bytes)?;
    let detector = Normalizing {
        inner: NerDetector::new(NerDetector::describe(), recognizer),
    };
    let report = evaluate(&detector, &heldout)?;
    let mut validation = figures(&report);
    validation["multilingual"] = multilingual::figures(&detector, &ml_heldout)?;
    let dev_docs: Vec<SpanDoc> = dev.iter().map(|d| (*d).clone()).collect();
    let dev_figures = if dev_docs.is_empty() {
        serde_json::Value::Null
    } else {
        let mut f = figures(&evaluate(&detector, &dev_docs)?);
        f["multilingual"] = multilingual::figures(&detector, &ml_dev)?;
        f
    };
    let s = report.supported.as_ref().unwrap_or(&report.overall);
    let calibration = Calibration {
        data: format!(
            "Presidio synth_dataset_v2.json, held-out split (data::is_heldout, {} rows); types {}",
            heldout.len(),
            TYPES.join(", ")
        ),
        n: s.support,
        accuracy: None,
        precision: Some(s.precision),
        recall: Some(s.recall),
        f1: Some(s.f1),
        threshold: Some(cfg.threshold),
        command: "emmental detectors validate pii.ner --data ../shared/data/presidio_synth_pii/synth_dataset_v2.json --heldout"
            .into(),
    };
    record["validation"] = validation.clone();
    record["development"] = dev_figures;
    record["calibration"] = serde_json::to_value(&calibration).unwrap_or_default();
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| DetectorError::Io {
        path: opts.out_dir.clone(),
        source: e,
    })?;
    let write = |name: String, body: &[u8]| -> Result<PathBuf, DetectorError> {
        let path = opts.out_dir.join(name);
        std::fs::write(&path, body).map_err(|e| DetectorError::Io {
            path: path.clone(),
            source: e,
        })?;
        Ok(path)
    };
    let record_bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    let files = vec![
        write(format!("{WEIGHTS_NAME}.json"), &bytes)?,
        write(format!("{WEIGHTS_NAME}.record.json"), &record_bytes)?,
    ];
    Ok(TrainReport {
        detector: super::ID.into(),
        seed: opts.seed,
        files,
        data: record["data"].clone(),
        validation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;

    #[test]
    fn bio_labels_mark_first_and_inner_pieces_and_skip_other_types() {
        let text = "Anna Lee at Acme Inc, a@b.io";
        let tok = |w: &str| {
            let s = text.find(w).unwrap();
            (s, s + w.len())
        };
        let offsets = vec![
            tok("Anna"),
            tok("Lee"),
            tok("at"),
            tok("Acme"),
            tok("Inc"),
            tok("a@b"),
        ];
        let spans = vec![
            Span::from_chars(text, 0, 8, "PERSON", 1.0),
            Span::from_chars(text, 12, 20, "ORG", 1.0),
            Span::from_chars(text, 22, 28, "EMAIL_ADDRESS", 1.0),
        ];
        let y = bio_labels(&offsets, &spans);
        let tags = tag_names();
        let names: Vec<&str> = y.iter().map(|&i| tags[i].as_str()).collect();
        assert_eq!(
            names,
            [
                "B-PERSON",
                "I-PERSON",
                "O",
                "B-ORGANIZATION",
                "I-ORGANIZATION",
                "O"
            ]
        );
    }
}
