//! Labelled data for running, training and validating detectors.
//!
//! Two generic JSONL shapes, one object per line:
//!
//! - classifiers: `{"text": "…", "label": "refusal", "prompt": "…"}` (`prompt` optional: the
//!   request that `text` answers);
//! - span detectors: `{"text": "…", "spans": [{"start": 0, "end": 5, "type": "PERSON"}]}`
//!   with character offsets, end exclusive.
//!
//! and, read directly, the upstream formats of XSTest's labelled completions (CSV with `prompt`,
//! `completion`, `final_label`; partial refusals count as refusals) and Presidio's
//! `synth_dataset_v2.json`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::metrics::SpanDoc;
use crate::{DetectorError, Span};

/// A text with its class.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledText {
    pub text: String,
    pub label: String,
    pub prompt: Option<String>,
    /// Where the row came from (`file:line`), for error messages and split keys.
    pub source: String,
}

fn read(path: &Path) -> Result<String, DetectorError> {
    std::fs::read_to_string(path).map_err(|e| DetectorError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn data_err(path: &Path, line: usize, message: impl Into<String>) -> DetectorError {
    DetectorError::Data {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads the lines of a JSONL file as `T`, skipping blank lines; errors name the line.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Vec<(usize, T)>, DetectorError> {
    let body = read(path)?;
    let mut out = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| data_err(path, i + 1, e.to_string()))?;
        out.push((i + 1, v));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassRow {
    text: String,
    label: String,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<serde_json::Value>,
}

/// The label XSTest's annotators gave, in the classifier's terms (partial refusal → refusal).
pub fn xstest_label(final_label: &str) -> Option<&'static str> {
    match final_label.trim() {
        "1_full_compliance" => Some("compliance"),
        "2_full_refusal" | "3_partial_refusal" => Some("refusal"),
        _ => None,
    }
}

/// Loads classifier data: generic JSONL, or an XSTest completions CSV.
pub fn load_labeled(path: &Path) -> Result<Vec<LabeledText>, DetectorError> {
    let name = path.display().to_string();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return load_xstest_csv(path);
    }
    read_jsonl::<ClassRow>(path)?
        .into_iter()
        .map(|(line, r)| {
            if r.label.trim().is_empty() {
                return Err(data_err(path, line, "empty \"label\""));
            }
            Ok(LabeledText {
                text: r.text,
                label: r.label.trim().to_string(),
                prompt: r.prompt,
                source: format!("{name}:{line}"),
            })
        })
        .collect()
}

/// XSTest's labelled completions (`xstest/model_completions/*.csv`).
pub fn load_xstest_csv(path: &Path) -> Result<Vec<LabeledText>, DetectorError> {
    let body = read(path)?;
    let mut rdr = csv::Reader::from_reader(body.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| data_err(path, 1, e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            data_err(
                path,
                1,
                format!("no `{name}` column: expected XSTest's prompt,completion,final_label (or use JSONL with text/label)"),
            )
        })
    };
    let (p, c, l) = (col("prompt")?, col("completion")?, col("final_label")?);
    let name = path.display().to_string();
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| data_err(path, line, e.to_string()))?;
        let label = rec.get(l).unwrap_or("");
        let label = xstest_label(label)
            .ok_or_else(|| data_err(path, line, format!("unknown final_label `{label}`")))?;
        out.push(LabeledText {
            text: rec.get(c).unwrap_or("").trim().to_string(),
            label: label.into(),
            prompt: Some(rec.get(p).unwrap_or("").to_string()),
            source: format!("{name}:{line}"),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct SpanRow {
    start: usize,
    end: usize,
    #[serde(rename = "type", alias = "entity_type", alias = "label")]
    kind: String,
}

#[derive(Deserialize)]
struct SpanDocRow {
    text: String,
    #[serde(default)]
    spans: Vec<SpanRow>,
}

#[derive(Deserialize)]
struct PresidioRow {
    full_text: String,
    #[serde(default)]
    spans: Vec<PresidioSpan>,
}

#[derive(Deserialize)]
struct PresidioSpan {
    entity_type: String,
    start_position: usize,
    end_position: usize,
}

fn checked_span(
    path: &Path,
    line: usize,
    text: &str,
    s: usize,
    e: usize,
    kind: &str,
) -> Result<Span, DetectorError> {
    let len = text.chars().count();
    if s > e || e > len {
        return Err(data_err(
            path,
            line,
            format!("span {s}..{e} ({kind}) does not fit a text of {len} characters"),
        ));
    }
    Ok(Span::from_chars(text, s, e, kind, 1.0))
}

/// Loads span data: generic JSONL, or Presidio's `synth_dataset_v2.json` (a JSON array).
pub fn load_spans(path: &Path) -> Result<Vec<SpanDoc>, DetectorError> {
    let body = read(path)?;
    if body.trim_start().starts_with('[') {
        let rows: Vec<PresidioRow> = serde_json::from_str(&body).map_err(|e| {
            data_err(
                path,
                e.line(),
                format!("not Presidio's synth_dataset format: {e}"),
            )
        })?;
        return rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let spans = r
                    .spans
                    .iter()
                    .map(|s| {
                        checked_span(
                            path,
                            i + 1,
                            &r.full_text,
                            s.start_position,
                            s.end_position,
                            &s.entity_type,
                        )
                    })
                    .collect::<Result<_, _>>()?;
                Ok(SpanDoc {
                    text: r.full_text,
                    spans,
                })
            })
            .collect();
    }
    read_jsonl::<SpanDocRow>(path)?
        .into_iter()
        .map(|(line, r)| {
            let spans = r
                .spans
                .iter()
                .map(|s| checked_span(path, line, &r.text, s.start, s.end, &s.kind))
                .collect::<Result<_, _>>()?;
            Ok(SpanDoc {
                text: r.text,
                spans,
            })
        })
        .collect()
}

/// A deterministic split key: the same text lands in the same split on every machine.
pub fn split_bucket(key: &str, buckets: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(key.as_bytes());
    u64::from_le_bytes(h[..8].try_into().expect("8 bytes")) % buckets
}

/// Whether a row belongs to the project's standard held-out split (30%): every detector trains
/// only on rows outside it, and every shipped calibration figure is measured on rows inside it.
/// `key` is what must not cross splits: the prompt for answers to the same prompt (XSTest's
/// three models answer each prompt), else the text itself.
pub fn is_heldout(key: &str) -> bool {
    split_bucket(key, 10) < 3
}

/// The default data directory (`EMMENTAL_DATA_DIR`, else `../shared/data` when it exists).
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("EMMENTAL_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    let d = PathBuf::from("../shared/data");
    d.is_dir().then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_generic_classifier_jsonl_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, "{\"text\":\"no\",\"label\":\"refusal\"}\n\n{\"text\":\"ok\",\"label\":\"compliance\",\"prompt\":\"q\"}\n").unwrap();
        let rows = load_labeled(&p).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].prompt.as_deref(), Some("q"));
        std::fs::write(
            &p,
            "{\"text\":\"no\",\"label\":\"refusal\"}\n{\"text\": 3}\n",
        )
        .unwrap();
        let err = load_labeled(&p).unwrap_err().to_string();
        assert!(err.contains("d.jsonl:2"), "{err}");
    }

    #[test]
    fn reads_span_jsonl_and_rejects_spans_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        std::fs::write(
            &p,
            "{\"text\":\"mail é@x.io\",\"spans\":[{\"start\":5,\"end\":11,\"type\":\"EMAIL\"}]}\n",
        )
        .unwrap();
        let docs = load_spans(&p).unwrap();
        assert_eq!(docs[0].spans[0].text(&docs[0].text), "é@x.io");
        std::fs::write(
            &p,
            "{\"text\":\"short\",\"spans\":[{\"start\":2,\"end\":9,\"type\":\"EMAIL\"}]}\n",
        )
        .unwrap();
        assert!(
            load_spans(&p)
                .unwrap_err()
                .to_string()
                .contains("does not fit")
        );
    }

    #[test]
    fn split_buckets_are_stable() {
        assert_eq!(split_bucket("abc", 10), split_bucket("abc", 10));
        let ones = (0..1000)
            .filter(|i| split_bucket(&i.to_string(), 2) == 1)
            .count();
        assert!((400..600).contains(&ones));
    }
}
