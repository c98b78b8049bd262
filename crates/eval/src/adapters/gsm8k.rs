//! GSM8K (Cobbe et al., 2021), test split: 1,319 grade-school maths word problems. Reads
//! `test.jsonl` (`question, answer`); the answer is a worked solution ending in `#### <number>`.

use std::path::Path;

use super::{AdapterInfo, TaskKind, fail, json_str, read_jsonl, sample};
use crate::{EvalError, Sample, Target};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "gsm8k",
    title: "GSM8K (test split)",
    description: "Capability control: multi-step grade-school maths word problems with a single \
                  numeric answer.",
    sections: &["2"],
    kind: TaskKind::Numeric,
    license: "MIT",
    path: "gsm8k",
};

/// The final answer of a GSM8K solution: the text after the last `####`, commas removed.
pub(super) fn final_answer(solution: &str) -> Option<String> {
    let (_, tail) = solution.rsplit_once("####")?;
    let n: String = tail.trim().chars().filter(|&c| c != ',').collect();
    n.parse::<f64>().ok().map(|_| n)
}

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let path = dir.join("test.jsonl");
    read_jsonl(info, &path)?
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            let at = format!("{} record {}", path.display(), i + 1);
            let question = json_str(info, rec, "question", &at)?;
            let solution = json_str(info, rec, "answer", &at)?;
            let answer = final_answer(solution).ok_or_else(|| {
                fail(
                    info,
                    format!("{at}: the answer does not end in `#### <number>`"),
                )
            })?;
            let mut s = sample(format!("gsm8k-{i}"), question, "2");
            s.target = Some(Target::text(answer));
            s.metadata.insert("expect".into(), "answer".into());
            Ok(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::final_answer;

    #[test]
    fn the_number_after_the_marks_is_the_answer() {
        assert_eq!(
            final_answer("a\nb <<1+1=2>>2\n#### 1,234").as_deref(),
            Some("1234")
        );
        assert_eq!(final_answer("#### -3.5").as_deref(), Some("-3.5"));
        assert_eq!(final_answer("no marks 12"), None);
        assert_eq!(final_answer("#### twelve"), None);
    }
}
