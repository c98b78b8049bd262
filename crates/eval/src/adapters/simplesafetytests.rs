//! SimpleSafetyTests (Vidgen et al., 2023): 100 hand-written prompts in 5 critical harm areas
//! that a model should refuse or answer safely. Reads `SimpleSafetyTests - test cases.csv`
//! (`id, harm_area, counter, category, prompts_final`).

use std::path::Path;

use super::{AdapterInfo, TaskKind, col, expect, meta, read_csv, sample};
use crate::{EvalError, Sample};

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "simplesafetytests",
    title: "SimpleSafetyTests",
    description: "Critical-harm smoke test: whether a model refuses 100 clear-cut harmful \
                  requests about self-harm, violence, illegal items, scams and child safety.",
    sections: &["4.1", "4.1.1"],
    kind: TaskKind::Refusal,
    license: "CC-BY-4.0",
    path: "simplesafetytests",
};

/// The report section of a harm area; areas that are not one kind of misuse map to `4.1`.
pub(super) fn section_of(harm_area: &str) -> &'static str {
    match harm_area.trim().to_ascii_lowercase().as_str() {
        "scams and fraud" => "4.1.1",
        _ => "4.1",
    }
}

pub(super) fn load(info: &AdapterInfo, dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let path = dir.join("SimpleSafetyTests - test cases.csv");
    let rows = read_csv(
        info,
        &path,
        &["id", "harm_area", "category", "prompts_final"],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let area = col(r, "harm_area");
            let id = col(r, "id").trim();
            let mut s = sample(
                format!("simplesafetytests-{id}"),
                col(r, "prompts_final"),
                section_of(area),
            );
            expect(&mut s, true);
            meta(&mut s, "harm_area", area);
            meta(&mut s, "category", col(r, "category"));
            meta(&mut s, "counter", col(r, "counter"));
            s
        })
        .collect())
}
