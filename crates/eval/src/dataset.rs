//! Samples and datasets: JSONL, JSON and CSV loaders with field mapping and stable ids.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use emmental_core::{Message, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::EvalError;

/// What the model is given: a single prompt (one user turn) or a whole conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Prompt(String),
    Messages(Vec<Message>),
}

impl Input {
    /// The conversation this input stands for.
    pub fn messages(&self) -> Vec<Message> {
        match self {
            Input::Prompt(p) => vec![Message::user(p.clone())],
            Input::Messages(m) => m.clone(),
        }
    }
    /// The text of the last user turn (what templates and scorers usually look at).
    pub fn text(&self) -> String {
        match self {
            Input::Prompt(p) => p.clone(),
            Input::Messages(m) => m
                .iter()
                .rev()
                .find(|m| m.role == Role::User)
                .map(|m| m.content.clone())
                .unwrap_or_default(),
        }
    }
}

/// What a correct answer looks like. Written in data files as a string, a list of strings
/// (any of them), `{"any": [...]}` or `{"regex": "..."}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Acceptable answers; scorers decide how to compare (exact, contained, numeric, letter).
    Texts(Vec<String>),
    /// A regular expression a correct answer matches.
    Regex(String),
}

impl Target {
    pub fn text(s: impl Into<String>) -> Self {
        Target::Texts(vec![s.into()])
    }
    /// The acceptable texts (empty for a regex target).
    pub fn texts(&self) -> &[String] {
        match self {
            Target::Texts(t) => t,
            Target::Regex(_) => &[],
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Target::Texts(t) if t.len() == 1 => s.serialize_str(&t[0]),
            Target::Texts(t) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("any", t)?;
                m.end()
            }
            Target::Regex(r) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("regex", r)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Target::from_value(&v).map_err(serde::de::Error::custom)
    }
}

impl Target {
    /// Reads the forms accepted in data files; numbers and booleans become their text.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match v {
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    scalar(i).ok_or_else(|| {
                        format!("target list items must be strings or numbers, got {i}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Target::Texts),
            Value::Object(m) => match (m.get("any"), m.get("regex"), m.len()) {
                (Some(any), None, 1) => Target::from_value(any),
                (None, Some(Value::String(r)), 1) => {
                    regex::Regex::new(r)
                        .map_err(|e| format!("target regex does not compile: {e}"))?;
                    Ok(Target::Regex(r.clone()))
                }
                _ => Err(format!(
                    "a target object must be {{\"any\": [...]}} or {{\"regex\": \"...\"}}, got {v}"
                )),
            },
            other => scalar(other)
                .map(Target::text)
                .ok_or_else(|| format!("unsupported target {other}")),
        }
    }
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Stable id: given in the data, or derived from the input's content.
    pub id: String,
    pub input: Input,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Options of a multiple-choice question (without letters); the target is then a letter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Everything else in the record (section, tags, expectations …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl Sample {
    pub fn new(id: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            input: Input::Prompt(input.into()),
            target: None,
            choices: Vec::new(),
            metadata: Map::new(),
        }
    }
    pub fn with_target(mut self, t: Target) -> Self {
        self.target = Some(t);
        self
    }
    /// A metadata string field, e.g. `section` or `expect`.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

/// Which record fields hold what. Field names may be dotted paths into nested objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMap {
    pub id: String,
    /// A string (one user turn) or an OpenAI-style message list.
    pub input: String,
    pub target: String,
    pub choices: String,
    /// Fields copied into metadata; empty means "every other field".
    pub metadata: Vec<String>,
}

impl Default for FieldMap {
    fn default() -> Self {
        Self {
            id: "id".into(),
            input: "input".into(),
            target: "target".into(),
            choices: "choices".into(),
            metadata: Vec::new(),
        }
    }
}

/// A named list of samples with unique ids.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub name: String,
    pub samples: Vec<Sample>,
}

/// File formats the loaders read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Json,
    Csv,
}

impl Format {
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

impl Dataset {
    pub fn new(name: impl Into<String>, samples: Vec<Sample>) -> Result<Self, EvalError> {
        let name = name.into();
        let mut seen = HashMap::new();
        for (i, s) in samples.iter().enumerate() {
            if let Some(j) = seen.insert(s.id.clone(), i) {
                return Err(EvalError::Dataset {
                    source_name: name,
                    message: format!(
                        "sample id `{}` is used by records {} and {}",
                        s.id,
                        j + 1,
                        i + 1
                    ),
                });
            }
        }
        Ok(Self { name, samples })
    }

    /// Loads a file in the format its extension says, with the given field names.
    pub fn load(path: &Path, fields: &FieldMap) -> Result<Self, EvalError> {
        let format = Format::from_path(path).ok_or_else(|| EvalError::Dataset {
            source_name: path.display().to_string(),
            message: "unknown file type; use .jsonl, .json or .csv".into(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::Io {
            path: PathBuf::from(path),
            source: e,
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dataset")
            .to_string();
        Self::parse(&name, &text, format, fields).map_err(|e| e.with_path(path))
    }

    /// Parses records from text.
    pub fn parse(
        name: &str,
        text: &str,
        format: Format,
        fields: &FieldMap,
    ) -> Result<Self, EvalError> {
        let records = read_records(text, format).map_err(|m| EvalError::Dataset {
            source_name: name.into(),
            message: m,
        })?;
        let mut samples = Vec::with_capacity(records.len());
        let mut derived: HashMap<String, usize> = HashMap::new();
        for (line, rec) in records {
            let s =
                sample_from_record(&rec, fields, &mut derived).map_err(|m| EvalError::Dataset {
                    source_name: name.into(),
                    message: format!("record at line {line}: {m}"),
                })?;
            samples.push(s);
        }
        Self::new(name, samples)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
    /// The first `n` samples (a deterministic subset, so `--limit` runs are comparable).
    pub fn limit(mut self, n: usize) -> Self {
        self.samples.truncate(n);
        self
    }
}

/// Records with the line they start on.
/// A record (one JSON object or CSV row) and the line it starts on.
type Record = (usize, Map<String, Value>);

fn read_records(text: &str, format: Format) -> Result<Vec<Record>, String> {
    let obj = |v: Value, line: usize| match v {
        Value::Object(m) => Ok((line, m)),
        other => Err(format!(
            "line {line}: expected a JSON object, got {}",
            kind(&other)
        )),
    };
    match format {
        Format::Jsonl => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let v: Value = serde_json::from_str(l)
                    .map_err(|e| format!("line {}: invalid JSON: {e}", i + 1))?;
                obj(v, i + 1)
            })
            .collect(),
        Format::Json => {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            let items = match v {
                Value::Array(a) => a,
                // Also accept {"samples": [...]} / {"data": [...]}.
                Value::Object(mut m) => match ["samples", "data", "examples"]
                    .iter()
                    .find_map(|k| m.remove(*k))
                {
                    Some(Value::Array(a)) => a,
                    _ => return Err(
                        "expected a JSON array of records (or an object with a `samples` array)"
                            .into(),
                    ),
                },
                other => return Err(format!("expected a JSON array, got {}", kind(&other))),
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| obj(v, i + 1))
                .collect()
        }
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(text.as_bytes());
            let headers = rdr
                .headers()
                .map_err(|e| format!("CSV header: {e}"))?
                .clone();
            rdr.records()
                .map(|r| {
                    let r = r.map_err(|e| format!("CSV: {e}"))?;
                    let line = r.position().map(|p| p.line() as usize).unwrap_or(0);
                    let m = headers
                        .iter()
                        .zip(r.iter())
                        .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                        .collect();
                    Ok((line, m))
                })
                .collect()
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Looks up a dotted path (`a.b.c`) in a record.
fn get<'a>(rec: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = rec.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn sample_from_record(
    rec: &Map<String, Value>,
    f: &FieldMap,
    derived: &mut HashMap<String, usize>,
) -> Result<Sample, String> {
    let input = match get(rec, &f.input) {
        Some(Value::String(s)) => Input::Prompt(s.clone()),
        Some(v @ Value::Array(_)) => Input::Messages(
            serde_json::from_value(v.clone())
                .map_err(|e| format!("`{}` is not a list of chat messages: {e}", f.input))?,
        ),
        Some(other) => {
            return Err(format!(
                "`{}` must be a string or a message list, got {}",
                f.input,
                kind(other)
            ));
        }
        None => return Err(format!("missing input field `{}`", f.input)),
    };
    let target = match get(rec, &f.target) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(Target::from_value(v).map_err(|e| format!("`{}`: {e}", f.target))?),
    };
    let choices = match get(rec, &f.choices) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| match c {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!(
                    "`{}` items must be strings, got {}",
                    f.choices,
                    kind(other)
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => serde_json::from_str(s)
            .map_err(|_| format!("`{}` must be a list of strings", f.choices))?,
        Some(other) => {
            return Err(format!(
                "`{}` must be a list, got {}",
                f.choices,
                kind(other)
            ));
        }
    };
    let id = match get(rec, &f.id) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other @ (Value::Bool(_) | Value::Array(_) | Value::Object(_))) => {
            return Err(format!(
                "`{}` must be a string or a number, got {}",
                f.id,
                kind(other)
            ));
        }
        _ => derived_id(&input, derived),
    };
    let used = [
        f.id.as_str(),
        f.input.as_str(),
        f.target.as_str(),
        f.choices.as_str(),
    ];
    let metadata = rec
        .iter()
        .filter(|(k, _)| {
            if f.metadata.is_empty() {
                !used.contains(&k.as_str())
            } else {
                f.metadata.contains(k)
            }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Sample {
        id,
        input,
        target,
        choices,
        metadata,
    })
}

/// An id from the input's content (stable across runs and file orderings); repeated inputs get
/// `-2`, `-3` … in file order.
fn derived_id(input: &Input, seen: &mut HashMap<String, usize>) -> String {
    let canonical = serde_json::to_string(input).unwrap_or_default();
    let base = hex::encode(&Sha256::digest(canonical.as_bytes())[..6]);
    let n = seen.entry(base.clone()).or_insert(0);
    *n += 1;
    if *n == 1 { base } else { format!("{base}-{n}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_records_become_samples_with_targets_choices_and_metadata() {
        let text = r#"{"id": "a", "input": "2+2?", "target": 4, "section": "2"}

{"id": 7, "input": "Pick", "choices": ["x", "y"], "target": "B"}
{"input": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}], "target": {"any": ["hello", "hi"]}}
{"input": "q", "target": {"regex": "(?i)paris"}}
"#;
        let d = Dataset::parse("t", text, Format::Jsonl, &FieldMap::default()).unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d.samples[0].target, Some(Target::text("4")));
        assert_eq!(d.samples[0].meta_str("section"), Some("2"));
        assert_eq!(d.samples[1].id, "7");
        assert_eq!(d.samples[1].choices, ["x", "y"]);
        assert_eq!(d.samples[2].input.messages().len(), 2);
        assert_eq!(d.samples[2].input.text(), "hi");
        assert_eq!(
            d.samples[2].target,
            Some(Target::Texts(vec!["hello".into(), "hi".into()]))
        );
        assert_eq!(d.samples[3].target, Some(Target::Regex("(?i)paris".into())));
        assert_eq!(d.samples[2].id.len(), 12, "derived ids are 12 hex digits");
    }

    #[test]
    fn derived_ids_are_stable_and_repeats_are_numbered() {
        let text = "{\"input\": \"same\"}\n{\"input\": \"other\"}\n{\"input\": \"same\"}\n";
        let a = Dataset::parse("t", text, Format::Jsonl, &FieldMap::default()).unwrap();
        let b = Dataset::parse("t", text, Format::Jsonl, &FieldMap::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.samples[2].id, format!("{}-2", a.samples[0].id));
    }

    #[test]
    fn field_mapping_reads_csv_and_nested_json() {
        let csv = "prompt,answer,type\n\"Hello, world\",hi,greeting\n";
        let f = FieldMap {
            input: "prompt".into(),
            target: "answer".into(),
            ..FieldMap::default()
        };
        let d = Dataset::parse("c", csv, Format::Csv, &f).unwrap();
        assert_eq!(d.samples[0].input.text(), "Hello, world");
        assert_eq!(d.samples[0].meta_str("type"), Some("greeting"));
        let json = r#"{"samples": [{"q": {"text": "x"}, "a": "y", "key": "k1"}]}"#;
        let f = FieldMap {
            id: "key".into(),
            input: "q.text".into(),
            target: "a".into(),
            ..FieldMap::default()
        };
        let d = Dataset::parse("j", json, Format::Json, &f).unwrap();
        assert_eq!(
            (d.samples[0].id.as_str(), d.samples[0].input.text().as_str()),
            ("k1", "x")
        );
    }

    #[test]
    fn malformed_records_are_clear_errors_with_line_numbers() {
        let cases = [
            ("{\"input\": \"a\"}\n{not json\n", "line 2: invalid JSON"),
            ("{\"prompt\": \"a\"}\n", "missing input field `input`"),
            ("[1, 2]\n", "expected a JSON object, got an array"),
            (
                "{\"id\": \"x\", \"input\": \"a\"}\n{\"id\": \"x\", \"input\": \"b\"}\n",
                "sample id `x` is used by records 1 and 2",
            ),
            (
                "{\"input\": \"a\", \"target\": {\"regex\": \"(\"}}\n",
                "does not compile",
            ),
            (
                "{\"input\": 3}\n",
                "must be a string or a message list, got a number",
            ),
        ];
        for (text, expect) in cases {
            let err = Dataset::parse("t", text, Format::Jsonl, &FieldMap::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{err} should contain {expect}");
        }
    }

    #[test]
    fn targets_round_trip_through_json() {
        for t in [
            Target::text("x"),
            Target::Texts(vec!["a".into(), "b".into()]),
            Target::Regex("^a$".into()),
        ] {
            let v = serde_json::to_value(&t).unwrap();
            assert_eq!(serde_json::from_value::<Target>(v).unwrap(), t);
        }
    }
}
