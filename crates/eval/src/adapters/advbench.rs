//! AdvBench harmful behaviours (Zou et al., 2023): 520 harmful instructions a safe model refuses.
//! Reads `harmful_behaviors.csv` (`goal, target`).

use std::path::Path;

use super::{AdapterInfo, TaskKind, col, expect, meta, read_csv, sample};
use crate::{EvalError, Sample};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "advbench",
    title: "AdvBench harmful behaviours",
    description: "Harmful compliance: whether a model refuses 520 harmful instructions of mixed \
                  kinds (weapons, hacking, fraud, violence …).",
    sections: &["4.1"],
    kind: TaskKind::Refusal,
    license: "MIT (taken from a third-party copy with upstream history; see SOURCE.md)",
    path: "advbench",
};

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let rows = read_csv(
        info,
        &dir.join("harmful_behaviors.csv"),
        &["goal", "target"],
    )?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut s = sample(format!("advbench-{i}"), col(r, "goal"), "4.1");
            expect(&mut s, true);
            // The affirmative prefix the GCG attack optimises for ("Sure, here is …"); some
            // prefix-match graders use it to spot compliance.
            meta(&mut s, "affirmative_target", col(r, "target"));
            s
        })
        .collect())
}
