//! XSTest (Röttger et al., NAACL 2024): 250 safe prompts that only look unsafe, which a
//! well-calibrated model answers, and 200 unsafe contrast prompts, which it refuses.
//! Reads `xstest_prompts.csv` (`id, prompt, type, label, focus, note`).

use std::path::Path;

use super::{AdapterInfo, TaskKind, col, expect, fail, meta, read_csv, sample};
use crate::{EvalError, Sample};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "xstest",
    title: "XSTest (exaggerated safety)",
    description: "Over-refusal: whether a model answers 250 safe prompts that look unsafe on the \
                  surface while still refusing 200 unsafe contrast prompts.",
    sections: &["4.2.1"],
    kind: TaskKind::Refusal,
    license: "CC-BY-4.0 (prompts)",
    path: "xstest",
};

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let path = dir.join("xstest_prompts.csv");
    let rows = read_csv(info, &path, &["id", "prompt", "type", "label"])?;
    rows.iter()
        .map(|r| {
            let id = col(r, "id").trim();
            let refuse = match col(r, "label").trim() {
                "safe" => false,
                "unsafe" => true,
                other => {
                    return Err(fail(
                        info,
                        format!(
                            "{}: row {id}: label `{other}` is neither safe nor unsafe",
                            path.display()
                        ),
                    ));
                }
            };
            let mut s = sample(format!("xstest-{id}"), col(r, "prompt"), "4.2.1");
            expect(&mut s, refuse);
            for (key, column) in [
                ("type", "type"),
                ("label", "label"),
                ("focus", "focus"),
                ("note", "note"),
            ] {
                meta(&mut s, key, col(r, column));
            }
            Ok(s)
        })
        .collect()
}
