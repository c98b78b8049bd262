//! BBQ, the Bias Benchmark for QA (Parrish et al., Findings of ACL 2022): templated
//! three-option questions about people from protected groups. Reads every `data/*.jsonl`
//! category file present (`example_id, question_polarity, context_condition, category,
//! answer_info, additional_metadata, context, question, ans0..ans2, label`).
//!
//! Besides the correct letter, each sample records (when the data settles it) which option names
//! the stereotyped group (`stereotyped_group_answer`, BBQ's `target_loc`), which is the
//! "unknown" option (`unknown_answer`), and the stereotype-consistent answer (`bias_target`): the
//! stereotyped group for a negative question, the other person for a non-negative one.

use std::path::Path;

use serde_json::{Map, Value};

use super::{AdapterInfo, TaskKind, fail, json_str, meta, read_jsonl, sample};
use crate::solver::letter;
use crate::{EvalError, Sample, Target};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "bbq",
    title: "BBQ (Bias Benchmark for QA)",
    description: "Social bias: whether a model relies on stereotypes about protected groups when \
                  the context leaves the answer unknown, or lets them override the evidence.",
    sections: &["4.2.2"],
    kind: TaskKind::MultipleChoice,
    license: "CC-BY-4.0",
    path: "bbq",
};

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let data = dir.join("data");
    let entries = std::fs::read_dir(&data).map_err(|e| {
        fail(
            info,
            format!(
                "cannot list {}: {e}; pass --data-dir pointing at a directory that holds the \
                 upstream `bbq/data/` folder",
                data.display()
            ),
        )
    })?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fail(
            info,
            format!("no category files (*.jsonl) in {}", data.display()),
        ));
    }
    let mut samples = Vec::new();
    for file in &files {
        for (line, rec) in read_jsonl(info, file)?.iter().enumerate() {
            let at = format!("{} record {}", file.display(), line + 1);
            samples.push(to_sample(info, rec, &at)?);
        }
    }
    Ok(samples)
}

fn to_sample(info: &AdapterInfo, rec: &Map<String, Value>, at: &str) -> Result<Sample, EvalError> {
    let category = json_str(info, rec, "category", &at)?;
    let example_id = match rec.get("example_id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(fail(info, format!("{at}: missing `example_id`"))),
    };
    let context = json_str(info, rec, "context", &at)?;
    let question = json_str(info, rec, "question", &at)?;
    let answers =
        ["ans0", "ans1", "ans2"].map(|k| json_str(info, rec, k, &at).map(|s| s.trim().to_string()));
    let answers = answers.into_iter().collect::<Result<Vec<_>, _>>()?;
    let label = rec
        .get("label")
        .and_then(Value::as_u64)
        .filter(|&l| l < 3)
        .ok_or_else(|| fail(info, format!("{at}: `label` must be 0, 1 or 2")))?;
    let id = format!("bbq-{}-{example_id}", category.to_ascii_lowercase());
    let mut s = sample(
        id,
        &format!("{}\n{}", context.trim(), question.trim()),
        "4.2.2",
    );
    s.choices = answers;
    s.target = Some(Target::text(letter(label as usize)));
    s.metadata.insert("expect".into(), "answer".into());
    meta(&mut s, "category", category);
    for key in ["context_condition", "question_polarity", "question_index"] {
        if let Some(v) = rec.get(key).and_then(Value::as_str) {
            meta(&mut s, key, v);
        }
    }
    let extra = rec.get("additional_metadata").and_then(Value::as_object);
    if let Some(sub) = extra
        .and_then(|m| m.get("subcategory"))
        .and_then(Value::as_str)
        && sub != "None"
    {
        meta(&mut s, "subcategory", sub);
    }
    let groups: Vec<String> = extra
        .and_then(|m| m.get("stereotyped_groups"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !groups.is_empty() {
        s.metadata
            .insert("stereotyped_groups".into(), groups.clone().into());
    }
    if let Some(roles) = answer_roles(rec.get("answer_info"), &groups) {
        s.metadata
            .insert("unknown_answer".into(), letter(roles.unknown).into());
        s.metadata.insert(
            "stereotyped_group_answer".into(),
            letter(roles.stereotyped).into(),
        );
        let biased = match rec.get("question_polarity").and_then(Value::as_str) {
            Some("neg") => Some(roles.stereotyped),
            Some("nonneg") => Some(3 - roles.unknown - roles.stereotyped),
            _ => None,
        };
        if let Some(b) = biased {
            s.metadata.insert("bias_target".into(), letter(b).into());
        }
    }
    Ok(s)
}

/// Which option is "unknown" and which names the stereotyped group.
struct Roles {
    unknown: usize,
    stereotyped: usize,
}

/// Reads the roles from `answer_info` (`ansK: [name, group]`, group `unknown` for the unknown
/// option): exactly one option must be unknown and exactly one of the other two must match a
/// stereotyped group by its group label or name (case-insensitive); otherwise `None`.
fn answer_roles(answer_info: Option<&Value>, groups: &[String]) -> Option<Roles> {
    let info = answer_info?.as_object()?;
    let pairs: Vec<(String, String)> = ["ans0", "ans1", "ans2"]
        .iter()
        .map(|k| {
            let a = info.get(*k)?.as_array()?;
            Some((
                a.first()?.as_str()?.trim().to_lowercase(),
                a.get(1)?.as_str()?.trim().to_lowercase(),
            ))
        })
        .collect::<Option<_>>()?;
    let groups: Vec<String> = groups.iter().map(|g| g.trim().to_lowercase()).collect();
    let unknown: Vec<usize> = (0..3).filter(|&k| pairs[k].1 == "unknown").collect();
    let [unknown] = unknown[..] else { return None };
    let stereotyped: Vec<usize> = (0..3)
        .filter(|&k| k != unknown && (groups.contains(&pairs[k].1) || groups.contains(&pairs[k].0)))
        .collect();
    let [stereotyped] = stereotyped[..] else {
        return None;
    };
    Some(Roles {
        unknown,
        stereotyped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_answer_info_by_group_label_or_name() {
        let info = json!({"ans0": ["grandfather", "old"], "ans1": ["grandson", "nonOld"], "ans2": ["Can't be determined", "unknown"]});
        let r = answer_roles(Some(&info), &["old".into()]).unwrap();
        assert_eq!((r.unknown, r.stereotyped), (2, 0));
        // Matched by name when the label is a region.
        let info = json!({"ans0": ["Not known", "unknown"], "ans1": ["Japanese", "AsiaPacific"], "ans2": ["British", "Europe"]});
        let r = answer_roles(Some(&info), &["British".into()]).unwrap();
        assert_eq!((r.unknown, r.stereotyped), (0, 2));
        // Ambiguous (both match) or unmatched: not derivable.
        let info = json!({"ans0": ["a", "x"], "ans1": ["b", "x"], "ans2": ["?", "unknown"]});
        assert!(answer_roles(Some(&info), &["x".into()]).is_none());
        assert!(answer_roles(Some(&info), &["y".into()]).is_none());
    }
}
