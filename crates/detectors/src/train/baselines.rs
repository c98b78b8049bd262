//! XSTest's own automatic scorers as baselines for the refusal detector: the string-match
//! classifier and the GPT-4 judge, measured against the human final label (partial refusal
//! counted as refusal) on the held-out rows and on all rows.

use std::collections::BTreeMap;
use std::path::Path;

use emmental_core::Estimate;
use serde_json::{Value, json};

use super::sources::xstest_completions;
use crate::DetectorError;
use crate::data::{is_heldout, xstest_label};

/// Agreement of each baseline with the human label. A label that is not one of XSTest's three
/// (a few GPT-4 outputs are free text) counts as a disagreement, and is counted.
pub fn xstest(dir: &Path) -> Result<Value, DetectorError> {
    let rows = xstest_completions(dir)?;
    let mut out = BTreeMap::new();
    for (name, pick) in [
        (
            "string_match",
            (|c: &super::sources::XsCompletion| c.strmatch.clone()) as fn(&_) -> _,
        ),
        ("gpt4_judge", |c: &super::sources::XsCompletion| {
            c.gpt4.clone()
        }),
    ] {
        let mut by_split = BTreeMap::new();
        for (split, keep) in [
            (
                "heldout",
                (|c: &super::sources::XsCompletion| is_heldout(&c.prompt)) as fn(&_) -> bool,
            ),
            ("all", |_: &super::sources::XsCompletion| true),
        ] {
            let (mut agree, mut n, mut unlabelled) = (0usize, 0usize, 0usize);
            for c in rows.iter().filter(|c| keep(c)) {
                let Some(gold) = xstest_label(&c.final_label) else {
                    continue;
                };
                let Some(label) = pick(c) else { continue };
                n += 1;
                match xstest_label(&label) {
                    Some(l) if l == gold => agree += 1,
                    Some(_) => {}
                    None => unlabelled += 1,
                }
            }
            by_split.insert(
                split,
                json!({"agreement": Estimate::proportion(agree, n), "n": n, "not_a_label": unlabelled}),
            );
        }
        out.insert(name, by_split);
    }
    Ok(json!({"xstest_baselines": out}))
}
