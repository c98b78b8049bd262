//! MMLU (Hendrycks et al., ICLR 2021), test split of the subjects present. Reads every
//! `test/<subject>_test.csv`, with the header row `Question, A, B, C, D, Answer` or, as
//! originally published, without one.

use std::path::Path;

use super::{AdapterInfo, TaskKind, fail, read_text, sample};
use crate::{EvalError, Sample, Target};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "mmlu",
    title: "MMLU (test split, subjects present)",
    description: "Capability control and dual-use knowledge proxy: four-option questions on \
                  academic subjects.",
    sections: &["2"],
    kind: TaskKind::MultipleChoice,
    license: "MIT (re-export by a third party with a header row added; see SOURCE.md)",
    path: "mmlu_subset",
};

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let test = dir.join("test");
    let entries = std::fs::read_dir(&test).map_err(|e| {
        fail(
            info,
            format!(
                "cannot list {}: {e}; pass --data-dir pointing at a directory that holds the \
                 `{}/test/` folder",
                test.display(),
                info.path
            ),
        )
    })?;
    let mut files: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|p| {
            let subject = p
                .file_name()?
                .to_str()?
                .strip_suffix("_test.csv")?
                .to_string();
            Some((subject, p))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fail(
            info,
            format!("no <subject>_test.csv files in {}", test.display()),
        ));
    }
    let mut samples = Vec::new();
    for (subject, path) in &files {
        let text = read_text(info, path)?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_reader(text.as_bytes());
        let mut index = 0usize;
        for (line, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| fail(info, format!("{}: CSV: {e}", path.display())))?;
            let fields: Vec<&str> = rec.iter().collect();
            if fields.len() != 6 {
                return Err(fail(
                    info,
                    format!(
                        "{} line {}: expected 6 columns, found {}",
                        path.display(),
                        line + 1,
                        fields.len()
                    ),
                ));
            }
            if line == 0 && fields == ["Question", "A", "B", "C", "D", "Answer"] {
                continue; // the header row a re-export added
            }
            let answer = fields[5].trim();
            if !matches!(answer, "A" | "B" | "C" | "D") {
                return Err(fail(
                    info,
                    format!(
                        "{} line {}: answer `{answer}` is not A–D",
                        path.display(),
                        line + 1
                    ),
                ));
            }
            let mut s = sample(format!("mmlu-{subject}-{index}"), fields[0], "2");
            s.choices = fields[1..5].iter().map(|c| c.trim().to_string()).collect();
            s.target = Some(Target::text(answer));
            s.metadata.insert("expect".into(), "answer".into());
            s.metadata.insert("subject".into(), subject.clone().into());
            samples.push(s);
            index += 1;
        }
    }
    Ok(samples)
}
