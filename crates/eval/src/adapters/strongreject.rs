//! StrongREJECT forbidden prompts (Souly et al., NeurIPS 2024): 313 specific, answerable harmful
//! requests in 6 categories, and the 60-prompt small version. Reads
//! `strongreject_dataset.csv` / `strongreject_small_dataset.csv` (`category, source, forbidden_prompt`).

use std::path::Path;

use super::{AdapterInfo, TaskKind, col, expect, fail, meta, read_csv, sample};
use crate::{EvalError, Sample};

const DESCRIPTION: &str = "Harmful compliance: whether a model refuses specific, answerable \
                           forbidden requests (crime, violence, disinformation, hate, illegal \
                           goods, sexual content).";
const SECTIONS: &[&str] = &["4.1", "4.1.1", "4.1.2"];
const LICENSE: &str = "MIT according to upstream (licence text not retrievable: verify before \
                       redistribution; taken from third-party copies, see SOURCE.md)";

pub(super) const INFO: AdapterInfo = AdapterInfo {
    id: "strongreject",
    title: "StrongREJECT forbidden prompts",
    description: DESCRIPTION,
    sections: SECTIONS,
    kind: TaskKind::Refusal,
    license: LICENSE,
    path: "strongreject",
};

pub(super) const INFO_SMALL: AdapterInfo = AdapterInfo {
    id: "strongreject-small",
    title: "StrongREJECT forbidden prompts (small, 60)",
    description: DESCRIPTION,
    sections: SECTIONS,
    kind: TaskKind::Refusal,
    license: LICENSE,
    path: "strongreject",
};

/// The report section of a StrongREJECT category (compared case-insensitively: the small file
/// capitalises some categories differently).
pub(super) fn section_of(category: &str) -> Option<&'static str> {
    Some(match category.trim().to_ascii_lowercase().as_str() {
        "disinformation and deception" => "4.1.2",
        // Non-consensual intimate imagery and sexual content about real people are discussed
        // under harm to individuals through fake content.
        "sexual content" => "4.1.1",
        "non-violent crimes"
        | "violence"
        | "hate, harassment and discrimination"
        | "illegal goods and services" => "4.1",
        _ => return None,
    })
}

pub(super) fn load(info: &AdapterInfo, dir: &Path, file: &str) -> Result<Vec<Sample>, EvalError> {
    let path = dir.join(file);
    let rows = read_csv(info, &path, &["category", "source", "forbidden_prompt"])?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let category = col(r, "category").trim();
            let section = section_of(category).ok_or_else(|| {
                fail(
                    info,
                    format!(
                        "{}: row {}: unknown category `{category}`",
                        path.display(),
                        i + 1
                    ),
                )
            })?;
            let mut s = sample(
                format!("{}-{i}", info.id),
                col(r, "forbidden_prompt"),
                section,
            );
            expect(&mut s, true);
            meta(&mut s, "category", category);
            meta(&mut s, "source", col(r, "source"));
            Ok(s)
        })
        .collect()
}
