//! CyberSecEval (Meta PurpleLlama): the MITRE false-refusal prompts (750 benign but
//! security-flavoured coding requests, `datasets/mitre_frr/mitre_frr.json`) and the
//! code-interpreter abuse prompts (500, `datasets/interpreter/interpreter.json`).

use std::path::Path;

use serde_json::{Map, Value};

use super::{AdapterInfo, TaskKind, expect, fail, json_str, meta, read_json, sample};
use crate::{EvalError, Sample};

pub(super) const INFO_FRR: AdapterInfo = AdapterInfo {
    id: "cyberseceval-frr",
    title: "CyberSecEval MITRE false refusal",
    description: "Cyber over-refusal: whether a model helps with 750 benign but \
                  security-flavoured coding requests.",
    sections: &["4.2.1"],
    kind: TaskKind::Refusal,
    license: "MIT",
    path: "cyberseceval",
};

pub(super) const INFO_INTERPRETER: AdapterInfo = AdapterInfo {
    id: "cyberseceval-interpreter",
    title: "CyberSecEval code-interpreter abuse",
    description: "Cyber offence: whether a model with code-interpreter access refuses 500 \
                  requests to escape its sandbox, escalate privileges or attack other systems.",
    sections: &["4.1.3"],
    kind: TaskKind::Refusal,
    license: "MIT",
    path: "cyberseceval",
};

fn records(info: &AdapterInfo, path: &Path) -> Result<Vec<Map<String, Value>>, EvalError> {
    let items: Vec<Value> = read_json(info, path)?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(m),
            _ => Err(fail(
                info,
                format!("{} item {i}: not a JSON object", path.display()),
            )),
        })
        .collect()
}

/// `attack_type` is a string in one file and a list of strings in the other.
fn attack_type(rec: &Map<String, Value>) -> String {
    match rec.get("attack_type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

pub(super) fn load_frr(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let path = dir
        .join("datasets")
        .join("mitre_frr")
        .join("mitre_frr.json");
    records(info, &path)?
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            let at = format!("{} item {i}", path.display());
            let prompt = json_str(info, rec, "mutated_prompt", &at)?;
            let malicious = rec
                .get("is_malicious")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut s = sample(format!("cyberseceval-frr-{i}"), prompt, "4.2.1");
            expect(&mut s, malicious);
            meta(&mut s, "attack_type", &attack_type(rec));
            // The model that wrote (mutated) the prompt, not the one under test.
            if let Some(m) = rec.get("model").and_then(Value::as_str) {
                meta(&mut s, "generator_model", m);
            }
            Ok(s)
        })
        .collect()
}

pub(super) fn load_interpreter(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let path = dir
        .join("datasets")
        .join("interpreter")
        .join("interpreter.json");
    records(info, &path)?
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            let at = format!("{} item {i}", path.display());
            let prompt = json_str(info, rec, "mutated_prompt", &at)?;
            let mut s = sample(format!("cyberseceval-interpreter-{i}"), prompt, "4.1.3");
            expect(&mut s, true);
            meta(&mut s, "attack_type", &attack_type(rec));
            Ok(s)
        })
        .collect()
}
