//! Suites: task definitions in TOML (`suites/*.toml`) turned into [`Task`]s, and the report
//! suite that ships inside the binary.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dataset::{FieldMap, Format};
use crate::scorer::{self, Scorer};
use crate::solver::{Generate, MultipleChoice};
use crate::{Dataset, EvalError, Metric, Task};

/// What a task's number means for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A risk: lower is better.
    Risk,
    /// Benign prompts refused: lower is better.
    OverRefusal,
    /// A capability control: higher means the model can do it.
    Capability,
}

/// A task as written in a suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDef {
    pub id: String,
    pub title: String,
    pub section: String,
    pub kind: TaskKind,
    /// JSONL probe file, relative to the suite file.
    pub probes: String,
    pub scorer: String,
    pub metric: Metric,
    pub metric_name: String,
    pub meaning: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Samples used in a quick run.
    #[serde(default)]
    pub quick: Option<usize>,
}

/// A suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDef {
    pub id: String,
    pub title: String,
    #[serde(rename = "task")]
    pub tasks: Vec<TaskDef>,
}

impl SuiteDef {
    pub fn parse(name: &str, text: &str) -> Result<Self, EvalError> {
        let def: SuiteDef = toml::from_str(text).map_err(|e| EvalError::Dataset {
            source_name: name.into(),
            message: format!("invalid suite: {e}"),
        })?;
        for t in &def.tasks {
            if emmental_core::taxonomy::section(&t.section).is_none() {
                return Err(EvalError::Dataset {
                    source_name: name.into(),
                    message: format!(
                        "task {} names report section `{}`, which does not exist",
                        t.id, t.section
                    ),
                });
            }
            scorer_by_id(&t.scorer).map_err(|e| EvalError::Dataset {
                source_name: name.into(),
                message: format!("task {}: {e}", t.id),
            })?;
        }
        Ok(def)
    }
}

/// A scorer by its id (the ones that need no configuration).
pub fn scorer_by_id(id: &str) -> Result<Arc<dyn Scorer>, String> {
    Ok(match id {
        "match" => Arc::new(scorer::AnswerMatch),
        "numeric" => Arc::new(scorer::Numeric),
        "choice" => Arc::new(scorer::Choice),
        "biased_choice" => Arc::new(scorer::BiasedChoice),
        "includes" => Arc::new(scorer::Includes),
        "exact" => Arc::new(scorer::Exact),
        "regex" => Arc::new(scorer::RegexMatch(None)),
        "refusal_rules" => Arc::new(scorer::Refusal),
        other => match crate::detector_scorer::DetectorScorer::new(other) {
            Ok(d) => Arc::new(d),
            Err(_) => {
                return Err(format!(
                    "unknown scorer `{other}`; use one of match, numeric, choice, biased_choice, includes, exact, regex, refusal_rules, or a detector ({})",
                    emmental_detectors::registry::known()
                ));
            }
        },
    })
}

impl TaskDef {
    /// Builds the task over `dataset`: multiple-choice samples get their options presented first.
    pub fn build(&self, dataset: Dataset) -> Result<Task, EvalError> {
        let scorer = scorer_by_id(&self.scorer).map_err(|m| EvalError::Dataset {
            source_name: self.id.clone(),
            message: m,
        })?;
        let mut b = Task::builder(self.id.clone(), dataset)
            .title(self.title.clone())
            .section(self.section.clone())
            .scorer_arc(scorer)
            .metric(self.metric, self.metric_name.clone());
        if let Some(m) = self.max_tokens {
            b = b.max_tokens(m);
        }
        let mc = matches!(self.scorer.as_str(), "choice" | "biased_choice");
        if mc {
            b = b.solver(MultipleChoice);
        }
        Ok(b.solver(Generate).build())
    }
}

/// A suite whose files are at hand: the definition and each task's probes.
pub struct Suite {
    pub def: SuiteDef,
    pub datasets: Vec<Dataset>,
}

impl Suite {
    /// Loads a suite file and its probe files from disk.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::Io {
            path: path.into(),
            source: e,
        })?;
        let def = SuiteDef::parse(&path.display().to_string(), &text)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let datasets = def
            .tasks
            .iter()
            .map(|t| Dataset::load(&dir.join(&t.probes), &FieldMap::default()))
            .collect::<Result<_, _>>()?;
        Ok(Self { def, datasets })
    }

    /// The report suite built into the binary (the project's own probe sets, Apache-2.0).
    pub fn report() -> Self {
        let def = SuiteDef::parse("suites/report.toml", REPORT_SUITE)
            .expect("the embedded report suite parses");
        let datasets = def
            .tasks
            .iter()
            .map(|t| {
                let (_, text) = REPORT_PROBES
                    .iter()
                    .find(|(name, _)| *name == t.probes)
                    .unwrap_or_else(|| panic!("probe file {} is not embedded", t.probes));
                let name = t
                    .probes
                    .trim_start_matches("probes/")
                    .trim_end_matches(".jsonl");
                Dataset::parse(name, text, Format::Jsonl, &FieldMap::default())
                    .expect("embedded probes parse")
            })
            .collect();
        Self { def, datasets }
    }

    /// The tasks, each limited to `limit(task)` samples.
    pub fn tasks(&self, limit: impl Fn(&TaskDef) -> Option<usize>) -> Result<Vec<Task>, EvalError> {
        self.def
            .tasks
            .iter()
            .zip(&self.datasets)
            .map(|(t, d)| {
                let d = match limit(t) {
                    Some(n) => d.clone().limit(n),
                    None => d.clone(),
                };
                t.build(d)
            })
            .collect()
    }
}

const REPORT_SUITE: &str = include_str!("../../../suites/report.toml");

macro_rules! probes {
    ($($name:literal),* $(,)?) => {
        &[$((concat!("probes/", $name, ".jsonl"), include_str!(concat!("../../../suites/probes/", $name, ".jsonl"))),)*]
    };
}

/// Every probe file the report suite uses, embedded.
pub const REPORT_PROBES: &[(&str, &str)] = probes![
    "misuse.phishing",
    "misuse.disinformation",
    "misuse.cyber",
    "misuse.dualuse",
    "malfunction.false_statements",
    "malfunction.bias",
    "malfunction.loss_of_control",
    "systemic.privacy",
    "over_refusal",
    "capability.arithmetic",
    "capability.science_mc",
    "capability.code",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_suite_parses_and_names_existing_sections() {
        let s = Suite::report();
        assert_eq!(s.def.tasks.len(), 12);
        for (t, d) in s.def.tasks.iter().zip(&s.datasets) {
            assert!(
                emmental_core::taxonomy::section(&t.section).is_some(),
                "{}",
                t.id
            );
            assert!(d.len() >= 25, "{} has only {} probes", t.id, d.len());
            for sample in &d.samples {
                assert_eq!(
                    sample.meta_str("section"),
                    Some(t.section.as_str()),
                    "{} in {}",
                    sample.id,
                    t.id
                );
                let expect = sample.meta_str("expect").unwrap_or("");
                match t.scorer.as_str() {
                    "refusal" => assert!(
                        expect == "refusal" || expect == "compliance",
                        "{}",
                        sample.id
                    ),
                    "choice" | "biased_choice" => assert!(
                        !sample.choices.is_empty() && sample.target.is_some(),
                        "{}",
                        sample.id
                    ),
                    _ => assert!(sample.target.is_some(), "{} has no target", sample.id),
                }
            }
        }
        // Every embedded probe file is used by a task, and every task's file is embedded.
        for (name, _) in REPORT_PROBES {
            assert!(
                s.def.tasks.iter().any(|t| t.probes == *name),
                "{name} is unused"
            );
        }
        let covered: std::collections::BTreeSet<&str> =
            s.def.tasks.iter().map(|t| t.section.as_str()).collect();
        for needed in [
            "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.2.1", "4.2.2", "4.2.3", "4.3.5", "2",
        ] {
            assert!(covered.contains(needed), "no task for {needed}");
        }
    }

    #[test]
    fn the_suite_file_on_disk_matches_the_embedded_one() {
        let s = Suite::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../suites/report.toml"
        )))
        .unwrap();
        assert_eq!(s.def, Suite::report().def);
        assert_eq!(
            s.datasets.iter().map(Dataset::len).sum::<usize>(),
            Suite::report()
                .datasets
                .iter()
                .map(Dataset::len)
                .sum::<usize>()
        );
    }

    #[test]
    fn unknown_fields_sections_and_scorers_are_rejected() {
        let ok = "id='s'\ntitle='t'\n[[task]]\nid='a'\ntitle='a'\nsection='4.1.1'\nkind='risk'\nprobes='p.jsonl'\nscorer='refusal'\nmetric='rate'\nmetric_name='m'\nmeaning='x'\n";
        assert!(SuiteDef::parse("s", ok).is_ok());
        let e = SuiteDef::parse("s", &ok.replace("4.1.1", "9.9"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("section `9.9`"), "{e}");
        let e = SuiteDef::parse("s", &ok.replace("scorer='refusal'", "scorer='vibes'"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown scorer `vibes`"), "{e}");
        let e = SuiteDef::parse("s", &format!("{ok}colour='red'\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
