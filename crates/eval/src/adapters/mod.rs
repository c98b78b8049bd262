//! Adapters that read public evaluation sets in their upstream formats from a data directory.
//!
//! The project never ships these files (several carry non-commercial, share-alike or unclear
//! licences). The user points Emmental at a directory that holds them (`--data-dir`, or
//! `EMMENTAL_DATA_DIR`), laid out as published: one folder per set, e.g. `xstest/`,
//! `harmbench/behavior_datasets/`. Each adapter turns one set into a [`Dataset`] whose samples
//! carry stable ids derived from the upstream rows, the report section they bear on (metadata
//! `section`) and, for refusal sets, what a safe model should do (metadata `expect`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::{Dataset, EvalError, Sample};

mod advbench;
mod bbq;
mod cyberseceval;
mod gsm8k;
mod harmbench;
mod mmlu;
mod simplesafetytests;
mod strongreject;
mod truthfulqa;
mod xstest;

/// What an adapter reads and how its samples are meant to be scored.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AdapterInfo {
    /// The name used on the command line, e.g. `xstest`; also the prefix of every sample id.
    pub id: &'static str,
    pub title: &'static str,
    /// One sentence: what it measures.
    pub description: &'static str,
    /// Every report section (see `emmental_core::taxonomy`) its samples are tagged with.
    pub sections: &'static [&'static str],
    /// How to score it.
    pub kind: TaskKind,
    /// The data licence, with the flags from the data directory's README.
    pub license: &'static str,
    /// The folder under the data directory that holds the upstream files.
    pub path: &'static str,
}

/// How the samples of an adapter are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaskKind {
    /// Prompts a safe model should refuse or answer: each sample's metadata "expect" is "refusal" or "compliance"; scored by a refusal detector.
    Refusal,
    /// Multiple choice: `choices` set, target = the correct letter ("A", "B", …).
    MultipleChoice,
    /// A numeric answer: target = the number as text.
    Numeric,
}

static ADAPTERS: &[AdapterInfo] = &[
    xstest::INFO,
    advbench::INFO,
    harmbench::INFO,
    strongreject::INFO,
    strongreject::INFO_SMALL,
    simplesafetytests::INFO,
    truthfulqa::INFO,
    bbq::INFO,
    gsm8k::INFO,
    mmlu::INFO,
    cyberseceval::INFO_FRR,
    cyberseceval::INFO_INTERPRETER,
];

/// Every adapter, in a fixed order.
pub fn adapters() -> &'static [AdapterInfo] {
    ADAPTERS
}

/// The adapter with this command-line id.
pub fn find(id: &str) -> Option<&'static AdapterInfo> {
    ADAPTERS.iter().find(|a| a.id == id)
}

/// Reads the set `id` from `data_dir` (the directory that holds one folder per set).
pub fn load(id: &str, data_dir: &Path) -> Result<Dataset, EvalError> {
    let info = find(id).ok_or_else(|| EvalError::Dataset {
        source_name: id.to_string(),
        message: format!(
            "unknown data set adapter `{id}`; known: {}",
            ADAPTERS.iter().map(|a| a.id).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let dir = set_dir(info, data_dir)?;
    let samples = match info.id {
        "xstest" => xstest::load(info, &dir),
        "advbench" => advbench::load(info, &dir),
        "harmbench" => harmbench::load(info, &dir),
        "strongreject" => strongreject::load(info, &dir, "strongreject_dataset.csv"),
        "strongreject-small" => strongreject::load(info, &dir, "strongreject_small_dataset.csv"),
        "simplesafetytests" => simplesafetytests::load(info, &dir),
        "truthfulqa-mc" => truthfulqa::load(info, &dir),
        "bbq" => bbq::load(info, &dir),
        "gsm8k" => gsm8k::load(info, &dir),
        "mmlu" => mmlu::load(info, &dir),
        "cyberseceval-frr" => cyberseceval::load_frr(info, &dir),
        "cyberseceval-interpreter" => cyberseceval::load_interpreter(info, &dir),
        other => unreachable!("adapter `{other}` is registered but has no loader"),
    }?;
    if samples.is_empty() {
        return Err(fail(info, format!("no samples found in {}", dir.display())));
    }
    Dataset::new(info.id, samples)
}

/// The folder of one set, with an error that says what to do when it is not there.
fn set_dir(info: &AdapterInfo, data_dir: &Path) -> Result<PathBuf, EvalError> {
    if !data_dir.is_dir() {
        return Err(fail(
            info,
            format!(
                "the data directory {} does not exist; pass --data-dir (or set \
                 EMMENTAL_DATA_DIR) pointing at the directory that holds the `{}/` folder",
                data_dir.display(),
                info.path
            ),
        ));
    }
    let dir = data_dir.join(info.path);
    if !dir.is_dir() {
        return Err(fail(
            info,
            format!(
                "{} not found: the data directory {} has no `{}/` folder; pass --data-dir \
                 (or set EMMENTAL_DATA_DIR) pointing at the directory that holds it",
                dir.display(),
                data_dir.display(),
                info.path
            ),
        ));
    }
    Ok(dir)
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the adapters.

pub(super) fn fail(info: &AdapterInfo, message: impl Into<String>) -> EvalError {
    EvalError::Dataset {
        source_name: info.id.to_string(),
        message: message.into(),
    }
}

/// Reads a text file; a missing file is reported with its path and a hint about `--data-dir`.
pub(super) fn read_text(info: &AdapterInfo, path: &Path) -> Result<String, EvalError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
            info,
            format!(
                "missing file {}; pass --data-dir pointing at a directory that holds the \
                 upstream `{}/` folder as published",
                path.display(),
                info.path
            ),
        )),
        Err(e) => Err(EvalError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// One CSV row, by column name.
pub(super) type Row = HashMap<String, String>;

/// Reads a CSV file with a header row; every column in `required` must be present.
pub(super) fn read_csv(
    info: &AdapterInfo,
    path: &Path,
    required: &[&str],
) -> Result<Vec<Row>, EvalError> {
    let text = read_text(info, path)?;
    let at = |m: String| fail(info, format!("{}: {m}", path.display()));
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| at(format!("CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if let Some(missing) = required.iter().find(|c| !headers.iter().any(|h| h == *c)) {
        return Err(at(format!(
            "no column `{missing}` (columns: {})",
            headers.join(", ")
        )));
    }
    rdr.records()
        .map(|r| {
            let r = r.map_err(|e| at(format!("CSV: {e}")))?;
            Ok(headers
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect())
        })
        .collect()
}

/// A column of a row read with [`read_csv`] (empty when absent).
pub(super) fn col<'a>(row: &'a Row, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

/// Reads a JSON Lines file: one object per non-empty line.
pub(super) fn read_jsonl(
    info: &AdapterInfo,
    path: &Path,
) -> Result<Vec<serde_json::Map<String, Value>>, EvalError> {
    read_text(info, path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| match serde_json::from_str(l) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(fail(
                info,
                format!("{} line {}: not a JSON object", path.display(), i + 1),
            )),
            Err(e) => Err(fail(
                info,
                format!("{} line {}: invalid JSON: {e}", path.display(), i + 1),
            )),
        })
        .collect()
}

/// Reads a JSON file into `T`.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    info: &AdapterInfo,
    path: &Path,
) -> Result<T, EvalError> {
    let text = read_text(info, path)?;
    serde_json::from_str(&text)
        .map_err(|e| fail(info, format!("{}: invalid JSON: {e}", path.display())))
}

/// A string field of a JSON object, or an error naming it.
pub(super) fn json_str<'a>(
    info: &AdapterInfo,
    rec: &'a serde_json::Map<String, Value>,
    key: &str,
    what: &dyn std::fmt::Display,
) -> Result<&'a str, EvalError> {
    rec.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| fail(info, format!("{what}: missing string field `{key}`")))
}

/// A sample with its prompt and report section.
pub(super) fn sample(id: String, prompt: &str, section: &str) -> Sample {
    let mut s = Sample::new(id, prompt.trim());
    s.metadata.insert("section".into(), section.into());
    s
}

/// Sets a string metadata field (skipped when empty).
pub(super) fn meta(s: &mut Sample, key: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        s.metadata.insert(key.into(), Value::String(value.into()));
    }
}

/// Marks a refusal-kind sample with what a safe model should do.
pub(super) fn expect(s: &mut Sample, refuse: bool) {
    let e = if refuse { "refusal" } else { "compliance" };
    s.metadata.insert("expect".into(), e.into());
}

/// A deterministic permutation of `0..n` seeded by `seed` (Fisher–Yates driven by SplitMix64),
/// the same on every platform and release: `order[k]` is the original index shown at position `k`.
pub fn shuffled_order(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed ^ 0x5EED_E331_7A1E_0001;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_deterministic_permutation_that_moves_items() {
        for n in 0..12 {
            for seed in 0..50 {
                let a = shuffled_order(n, seed);
                assert_eq!(a, shuffled_order(n, seed), "same seed, same order");
                let mut sorted = a.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "a permutation");
            }
        }
        // Pinned values: the order must not change between releases, or sample targets would.
        let pinned = shuffled_order(6, 42);
        assert_eq!(pinned, PINNED_6_42);
        // Where item 0 lands is spread over all positions.
        let mut seen = [0usize; 4];
        for seed in 0..400 {
            let pos = shuffled_order(4, seed)
                .iter()
                .position(|&i| i == 0)
                .unwrap();
            seen[pos] += 1;
        }
        assert!(
            seen.iter().all(|&c| c > 60),
            "positions of item 0: {seen:?}"
        );
        assert!(
            (0..20).any(|s| shuffled_order(8, s) != shuffled_order(8, s + 1)),
            "different seeds give different orders"
        );
    }

    const PINNED_6_42: [usize; 6] = [2, 0, 1, 3, 4, 5];

    #[test]
    fn adapter_ids_are_unique_and_errors_name_the_fix() {
        let mut ids: Vec<_> = adapters().iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), adapters().len());
        // A missing data directory is reported with the option that fixes it.
        for a in adapters() {
            let err = load(a.id, Path::new("/nonexistent/emmental-data"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("--data-dir"), "{err}");
        }
        let err = load("nope", Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("xstest") && err.contains("unknown"), "{err}");
    }
}
