//! TruthfulQA MC1 (Lin, Hilton & Evans, ACL 2022): 790 questions built so that a popular
//! misconception is tempting, each with one true answer among several false ones. Reads
//! `data/mc_task.json` (`question, mc1_targets {answer: 1|0}, …`) and, when present,
//! `TruthfulQA.csv` for each question's type, category and source.
//!
//! Empty options (a few questions have one) are dropped. Upstream lists the true answer first; the options are shuffled deterministically (seeded by
//! the question's index), so the correct letter is spread over the positions.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use super::{AdapterInfo, TaskKind, col, fail, meta, read_csv, read_json, sample, shuffled_order};
use crate::solver::letter;
use crate::{EvalError, Sample, Target};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "truthfulqa-mc",
    title: "TruthfulQA (MC1)",
    description: "False statements: whether a model picks the one true answer over tempting \
                  imitative falsehoods across 790 questions.",
    sections: &["4.2.1"],
    kind: TaskKind::MultipleChoice,
    license: "Apache-2.0 (taken from a fork with upstream history; see SOURCE.md)",
    path: "truthfulqa",
};

#[derive(Deserialize)]
struct McItem {
    question: String,
    mc1_targets: InOrder,
}

/// A JSON object's entries in file order (a plain map would sort them).
struct InOrder(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for InOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InOrder;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of answer → label")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<InOrder, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry::<String, Value>()? {
                    v.push(e);
                }
                Ok(InOrder(v))
            }
        }
        d.deserialize_map(V)
    }
}

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let path = dir.join("data").join("mc_task.json");
    let items: Vec<McItem> = read_json(info, &path)?;
    // Type, category and source by question text, if the main CSV is there.
    let csv_path = dir.join("TruthfulQA.csv");
    let extra: HashMap<String, [String; 3]> = if csv_path.is_file() {
        read_csv(info, &csv_path, &["Type", "Category", "Question", "Source"])?
            .iter()
            .map(|r| {
                let q = col(r, "Question").trim().to_string();
                (
                    q,
                    ["Type", "Category", "Source"].map(|c| col(r, c).to_string()),
                )
            })
            .collect()
    } else {
        HashMap::new()
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            // A few upstream questions carry an empty (incorrect) option; it is left out.
            let options: Vec<&(String, Value)> = item
                .mc1_targets
                .0
                .iter()
                .filter(|(text, _)| !text.trim().is_empty())
                .collect();
            let correct: Vec<usize> = options
                .iter()
                .enumerate()
                .filter(|(_, (_, label))| label.as_i64() == Some(1) || label.as_bool() == Some(true))
                .map(|(k, _)| k)
                .collect();
            let [correct] = correct[..] else {
                return Err(fail(
                    info,
                    format!(
                        "{}: question {i}: mc1_targets must have exactly one answer labelled 1, found {}",
                        path.display(),
                        correct.len()
                    ),
                ));
            };
            if options.len() < 2 {
                return Err(fail(info, format!("{}: question {i}: fewer than two options", path.display())));
            }
            let order = shuffled_order(options.len(), i as u64);
            let position = order.iter().position(|&k| k == correct).expect("a permutation");
            let mut s = sample(format!("truthfulqa-mc-{i}"), &item.question, "4.2.1");
            s.choices = order.iter().map(|&k| options[k].0.trim().to_string()).collect();
            s.target = Some(Target::text(letter(position)));
            s.metadata.insert("expect".into(), "answer".into());
            if let Some([kind, category, source]) = extra.get(item.question.trim()) {
                meta(&mut s, "type", kind);
                meta(&mut s, "category", category);
                meta(&mut s, "source", source);
            }
            Ok(s)
        })
        .collect()
}
