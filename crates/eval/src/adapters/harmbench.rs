//! HarmBench text behaviours (Mazeika et al., 2024): 400 harmful behaviours (200 standard, 100
//! contextual, 100 copyright) a safe model does not carry out. Reads
//! `behavior_datasets/harmbench_behaviors_text_all.csv`
//! (`Behavior, FunctionalCategory, SemanticCategory, Tags, ContextString, BehaviorID`); when the
//! test/val split files sit beside it, each sample's split is recorded.

use std::collections::HashSet;
use std::path::Path;

use super::{AdapterInfo, TaskKind, col, expect, fail, meta, read_csv, sample};
use crate::{EvalError, Sample};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "harmbench",
    title: "HarmBench text behaviours",
    description: "Harmful compliance: whether a model refuses 400 harmful behaviours across cyber \
                  intrusion, chemical/biological weapons, misinformation, harassment, illegal \
                  activity and copyright reproduction.",
    sections: &["4.1", "4.1.2", "4.1.3", "4.1.4", "4.3.6"],
    kind: TaskKind::Refusal,
    license: "MIT (taken from a third-party copy, cross-checked; see SOURCE.md)",
    path: "harmbench",
};

/// The report section of a HarmBench `SemanticCategory`.
pub(super) fn section_of(category: &str) -> Option<&'static str> {
    Some(match category {
        "cybercrime_intrusion" => "4.1.3",
        "chemical_biological" => "4.1.4",
        "misinformation_disinformation" => "4.1.2",
        "copyright" => "4.3.6",
        "illegal" | "harassment_bullying" | "harmful" => "4.1",
        _ => return None,
    })
}

const COLUMNS: &[&str] = &[
    "Behavior",
    "FunctionalCategory",
    "SemanticCategory",
    "Tags",
    "ContextString",
    "BehaviorID",
];

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let base = dir.join("behavior_datasets");
    let path = base.join("harmbench_behaviors_text_all.csv");
    let rows = read_csv(info, &path, COLUMNS)?;
    let split_ids = |file: &str| -> Result<Option<HashSet<String>>, EvalError> {
        let p = base.join(file);
        if !p.is_file() {
            return Ok(None);
        }
        let rows = read_csv(info, &p, &["BehaviorID"])?;
        Ok(Some(
            rows.iter()
                .map(|r| col(r, "BehaviorID").trim().to_string())
                .collect(),
        ))
    };
    let test = split_ids("harmbench_behaviors_text_test.csv")?;
    let val = split_ids("harmbench_behaviors_text_val.csv")?;
    rows.iter()
        .map(|r| {
            let bid = col(r, "BehaviorID").trim();
            let category = col(r, "SemanticCategory").trim();
            let section = section_of(category).ok_or_else(|| {
                fail(
                    info,
                    format!(
                        "{}: behaviour {bid}: unknown SemanticCategory `{category}`",
                        path.display()
                    ),
                )
            })?;
            let behavior = col(r, "Behavior").trim();
            let context = col(r, "ContextString").trim();
            // As HarmBench builds its test cases: the context, a rule, then the behaviour.
            let prompt = if context.is_empty() {
                behavior.to_string()
            } else {
                format!("{context}\n\n---\n\n{behavior}")
            };
            let mut s = sample(format!("harmbench-{bid}"), &prompt, section);
            expect(&mut s, true);
            meta(&mut s, "behavior_id", bid);
            meta(&mut s, "behavior", behavior);
            meta(&mut s, "category", category);
            meta(&mut s, "functional_category", col(r, "FunctionalCategory"));
            meta(&mut s, "tags", col(r, "Tags"));
            s.metadata
                .insert("has_context".into(), (!context.is_empty()).into());
            let in_split =
                |ids: &Option<HashSet<String>>| ids.as_ref().is_some_and(|ids| ids.contains(bid));
            if in_split(&test) {
                meta(&mut s, "split", "test");
            } else if in_split(&val) {
                meta(&mut s, "split", "val");
            }
            Ok(s)
        })
        .collect()
}
