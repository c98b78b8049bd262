//! Project-written messages in 30 languages (`data/ner_multilingual.txt`): the `pii.ner` head's
//! evidence that an ordinary capitalised word in another language ("Hola", "Gracias", "Guten
//! Tag", "Sie", "Quiero") is not a name, while a name, street or company in that language
//! still is.
//!
//! The file marks entities inline (`[[PERSON|María]]`); [`parse`] removes the markup and
//! computes character offsets, so spans are exact. Messages split by [`crate::data::is_heldout`]
//! of their text: training reads the others, and the training record reports span figures on
//! the held-out messages that name entities and false alarms on those that name none
//! ([`figures`]).

use serde_json::json;

use super::TYPES;
use crate::data::is_heldout;
use crate::metrics::{FalseAlarms, SpanDoc, SpanReport, canonical_type};
use crate::{Detector, DetectorError, Input, Span};

/// Source name in the training record.
pub const SOURCE: &str = "emmental/ner_multilingual";
/// The file, relative to the repository root.
pub const FILE: &str = "crates/detectors/data/ner_multilingual.txt";
const TEXT: &str = include_str!("../../data/ner_multilingual.txt");

/// One message with its language (ISO 639-1 code from the `## xx` header above it).
#[derive(Debug, Clone)]
pub struct Message {
    pub language: String,
    pub doc: SpanDoc,
}

/// One marked-up line as text and spans (character offsets).
fn unmark(line: &str) -> Result<SpanDoc, String> {
    let line = line.replace("\\n", "\n");
    let mut text = String::new();
    let mut chars = 0usize;
    let mut spans = Vec::new();
    let mut rest = line.as_str();
    while let Some(open) = rest.find("[[") {
        let before = &rest[..open];
        if before.contains("]]") {
            return Err("`]]` without `[[`".into());
        }
        text.push_str(before);
        chars += before.chars().count();
        let inner = &rest[open + 2..];
        let close = inner.find("]]").ok_or("`[[` without `]]`")?;
        let mark = &inner[..close];
        let (kind, value) = mark
            .split_once('|')
            .ok_or_else(|| format!("`[[{mark}]]` has no `|`"))?;
        if !TYPES.contains(&canonical_type(kind).as_str()) {
            return Err(format!("type `{kind}` is not one of {}", TYPES.join(", ")));
        }
        if value.is_empty() || value.trim() != value || value.contains("[[") {
            return Err(format!("`{value}`: empty, padded or nested entity"));
        }
        let n = value.chars().count();
        spans.push((chars, chars + n, canonical_type(kind)));
        text.push_str(value);
        chars += n;
        rest = &inner[close + 2..];
    }
    if rest.contains("]]") {
        return Err("`]]` without `[[`".into());
    }
    text.push_str(rest);
    let spans = spans
        .into_iter()
        .map(|(s, e, k)| Span::from_chars(&text, s, e, k, 1.0))
        .collect();
    Ok(SpanDoc { text, spans })
}

/// Reads the file's format; errors name the line.
pub fn parse(body: &str) -> Result<Vec<Message>, String> {
    let mut language: Option<String> = None;
    let mut out = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if let Some(header) = line.strip_prefix("## ") {
            let code = header.split_whitespace().next().unwrap_or("");
            if code.is_empty() {
                return Err(format!("line {}: `##` without a language code", i + 1));
            }
            language = Some(code.to_string());
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let lang = language
            .clone()
            .ok_or_else(|| format!("line {}: a message before the first `## xx` header", i + 1))?;
        let doc = unmark(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(Message {
            language: lang,
            doc,
        });
    }
    Ok(out)
}

/// The shipped messages.
pub fn messages() -> Vec<Message> {
    parse(TEXT).unwrap_or_else(|e| panic!("{FILE}: {e}"))
}

/// (training messages, held-out messages), by `data::is_heldout(text)`.
pub fn split() -> (Vec<Message>, Vec<Message>) {
    messages()
        .into_iter()
        .partition(|m| !is_heldout(&m.doc.text))
}

/// Counts for the training record's data section.
pub fn describe(msgs: &[Message]) -> serde_json::Value {
    let mut languages: Vec<&str> = msgs.iter().map(|m| m.language.as_str()).collect();
    languages.sort();
    languages.dedup();
    json!({
        "messages": msgs.len(),
        "with_entities": msgs.iter().filter(|m| !m.doc.spans.is_empty()).count(),
        "entity_free": msgs.iter().filter(|m| m.doc.spans.is_empty()).count(),
        "languages": languages.len(),
    })
}

/// Figures of a detector on held-out messages: span precision, recall and F1 (the head's
/// types) on those naming entities, and false alarms on those naming none (messages with any
/// reported span at the detector's threshold), with the false alarms themselves.
pub fn figures(
    detector: &dyn Detector,
    heldout: &[Message],
) -> Result<serde_json::Value, DetectorError> {
    let docs: Vec<SpanDoc> = heldout.iter().map(|m| m.doc.clone()).collect();
    let mut predicted = Vec::with_capacity(docs.len());
    for chunk in docs.chunks(32) {
        let inputs: Vec<Input<'_>> = chunk.iter().map(|d| Input::text(&d.text)).collect();
        predicted.extend(detector.detect_batch(&inputs)?.into_iter().map(|d| d.spans));
    }
    let (mut gold_e, mut pred_e) = (Vec::new(), Vec::new());
    for (d, p) in docs.iter().zip(&predicted) {
        if !d.spans.is_empty() {
            gold_e.push(d.clone());
            pred_e.push(p.clone());
        }
    }
    let types: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
    let entities = SpanReport::compute(&gold_e, &pred_e, Some(&types));
    let s = entities.supported.as_ref().unwrap_or(&entities.overall);
    let alarms = FalseAlarms::compute(&docs, &predicted);
    let flagged: Vec<serde_json::Value> = heldout
        .iter()
        .zip(&predicted)
        .filter(|(m, p)| m.doc.spans.is_empty() && !p.is_empty())
        .map(|(m, p)| {
            json!({
                "language": m.language,
                "text": m.doc.text,
                "spans": p.iter().map(|x| json!({
                    "type": x.kind, "text": x.text(&m.doc.text), "score": x.score,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "source": SOURCE,
        "heldout_messages": docs.len(),
        "with_entities": {
            "documents": gold_e.len(),
            "precision": s.precision.value, "recall": s.recall.value, "f1": s.f1.value,
            "f1_ci": [s.f1.ci_low, s.f1.ci_high], "gold": s.support, "predicted": s.predicted,
        },
        "entity_free": alarms,
        "false_alarms": flagged,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text_with_exact_char_spans() {
        let m = parse("## es Spanish\nHola [[PERSON|María García]], vive en [[LOCATION|Ávila]].\\nAdiós\n# note\n\n## de German\nDanke!").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].language, "es");
        assert_eq!(m[0].doc.text, "Hola María García, vive en Ávila.\nAdiós");
        let got: Vec<(&str, &str)> = m[0]
            .doc
            .spans
            .iter()
            .map(|s| (s.kind.as_str(), s.text(&m[0].doc.text)))
            .collect();
        assert_eq!(got, [("PERSON", "María García"), ("LOCATION", "Ávila")]);
        assert_eq!((m[0].doc.spans[1].start, m[0].doc.spans[1].end), (27, 32));
        assert_eq!(m[1].language, "de");
        assert!(m[1].doc.spans.is_empty());
    }

    #[test]
    fn bad_markup_is_refused_with_its_line() {
        for (body, want) in [
            ("Hola", "line 1: a message before"),
            ("## es\nHola [[PERSON|Ana", "line 2: `[[` without `]]`"),
            ("## es\nHola [[FOO|Ana]]", "line 2: type `FOO`"),
            ("## es\nHola [[PERSON Ana]]", "no `|`"),
            ("## es\nHola [[PERSON| Ana]]", "padded"),
            ("## es\nHola Ana]]", "`]]` without `[[`"),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.contains(want), "{body:?}: {err}");
        }
    }

    #[test]
    fn the_shipped_file_parses_and_covers_its_languages() {
        let all = messages();
        let d = describe(&all);
        assert!(d["languages"].as_u64().unwrap() >= 30, "{d}");
        let free = d["entity_free"].as_u64().unwrap();
        let with = d["with_entities"].as_u64().unwrap();
        assert!(free > with && with > 100, "{d}");
        let mut texts: Vec<&str> = all.iter().map(|m| m.doc.text.as_str()).collect();
        texts.sort();
        let n = texts.len();
        texts.dedup();
        assert_eq!(texts.len(), n, "a message occurs twice");
        let (train, heldout) = split();
        assert_eq!(train.len() + heldout.len(), n);
        assert!(heldout.len() * 5 > n && heldout.len() * 5 < 2 * n);
    }
}
