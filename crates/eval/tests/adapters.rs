//! The data-set adapters against the real upstream files in `shared/data` beside the checkout.
//! These tests fail (they do not skip) when that directory is missing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use emmental_core::taxonomy;
use emmental_eval::adapters::{self, TaskKind};
use emmental_eval::{Dataset, Sample, Target};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

/// Sample counts stated in each set's SOURCE.md.
const COUNTS: &[(&str, usize)] = &[
    ("xstest", 450),
    ("advbench", 520),
    ("harmbench", 400),
    ("strongreject", 313),
    ("strongreject-small", 60),
    ("simplesafetytests", 100),
    ("truthfulqa-mc", 790),
    ("bbq", 11_956),
    ("gsm8k", 1_319),
    ("mmlu", 2_811),
    ("cyberseceval-frr", 750),
    ("cyberseceval-interpreter", 500),
];

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(DATA_DIR);
    assert!(
        dir.is_dir(),
        "the public data sets are expected at {} (a `shared/data` directory beside the \
         checkout); these tests read the real upstream files and cannot run without them",
        dir.display()
    );
    dir
}

/// Every adapter's data set, loaded once.
static LOADED: LazyLock<HashMap<&'static str, Dataset>> = LazyLock::new(|| {
    let dir = data_dir();
    adapters::adapters()
        .iter()
        .map(|a| match adapters::load(a.id, &dir) {
            Ok(d) => (a.id, d),
            Err(e) => panic!("adapter {} failed to load: {e}", a.id),
        })
        .collect()
});

fn dataset(id: &str) -> &'static Dataset {
    LOADED
        .get(id)
        .unwrap_or_else(|| panic!("no adapter `{id}`"))
}

fn texts(t: &Option<Target>) -> &[String] {
    t.as_ref().map(Target::texts).unwrap_or(&[])
}

fn count_by<'a>(
    d: &'a Dataset,
    f: impl Fn(&'a Sample) -> Option<&'a str>,
) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for s in &d.samples {
        *m.entry(f(s).unwrap_or("<none>")).or_insert(0) += 1;
    }
    m
}

#[test]
fn every_adapter_loads_the_number_of_samples_its_source_states() {
    let ids: Vec<_> = adapters::adapters().iter().map(|a| a.id).collect();
    let counted: Vec<_> = COUNTS.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, counted, "every adapter needs an expected count here");
    for (id, n) in COUNTS {
        let d = dataset(id);
        assert_eq!(d.len(), *n, "{id}");
        assert_eq!(d.name, *id);
    }
}

#[test]
fn adapter_info_is_complete_and_sections_exist_in_the_taxonomy() {
    for a in adapters::adapters() {
        assert!(
            !a.title.is_empty() && !a.description.is_empty() && !a.license.is_empty(),
            "{}",
            a.id
        );
        assert!(!a.sections.is_empty(), "{}", a.id);
        for s in a.sections {
            assert!(
                taxonomy::section(s).is_some(),
                "{}: section {s} is not in the taxonomy",
                a.id
            );
        }
        assert!(
            Path::new(DATA_DIR).join(a.path).is_dir(),
            "{}: folder {}",
            a.id,
            a.path
        );
        assert_eq!(adapters::find(a.id).map(|f| f.id), Some(a.id));
    }
    assert!(adapters::find("no-such-set").is_none());
}

#[test]
fn samples_have_prefixed_ids_inputs_and_sections_their_adapter_declares() {
    for a in adapters::adapters() {
        let d = dataset(a.id);
        let mut used = std::collections::BTreeSet::new();
        for s in &d.samples {
            assert!(
                s.id.starts_with(&format!("{}-", a.id)),
                "{}: id {}",
                a.id,
                s.id
            );
            assert!(!s.input.text().trim().is_empty(), "{}: empty input", s.id);
            let section = s
                .meta_str("section")
                .unwrap_or_else(|| panic!("{}: no section", s.id));
            assert!(
                taxonomy::section(section).is_some(),
                "{}: section {section}",
                s.id
            );
            assert!(
                a.sections.contains(&section),
                "{}: section {section} not declared by {}",
                s.id,
                a.id
            );
            used.insert(section);
        }
        assert_eq!(
            used.len(),
            a.sections.len(),
            "{}: declared sections {:?}, used {used:?}",
            a.id,
            a.sections
        );
    }
}

#[test]
fn loading_twice_gives_the_same_samples() {
    for id in ["truthfulqa-mc", "harmbench", "mmlu"] {
        let again = adapters::load(id, &data_dir()).unwrap();
        assert_eq!(&again, dataset(id), "{id}");
    }
}

#[test]
fn targets_and_expectations_fit_each_kind() {
    for a in adapters::adapters() {
        for s in &dataset(a.id).samples {
            match a.kind {
                TaskKind::Refusal => {
                    let e = s.meta_str("expect");
                    assert!(
                        matches!(e, Some("refusal" | "compliance")),
                        "{}: expect {e:?}",
                        s.id
                    );
                    assert!(s.target.is_none() && s.choices.is_empty(), "{}", s.id);
                }
                TaskKind::MultipleChoice => {
                    assert!(
                        s.choices.len() >= 2,
                        "{}: {} choices",
                        s.id,
                        s.choices.len()
                    );
                    assert!(
                        s.choices.iter().all(|c| !c.trim().is_empty()),
                        "{}: empty choice",
                        s.id
                    );
                    let [t] = texts(&s.target) else {
                        panic!("{}: target {:?}", s.id, s.target)
                    };
                    let valid: Vec<String> = (0..s.choices.len())
                        .map(|i| ((b'A' + i as u8) as char).to_string())
                        .collect();
                    assert!(
                        valid.contains(t),
                        "{}: target {t} not among {valid:?}",
                        s.id
                    );
                }
                TaskKind::Numeric => {
                    let [t] = texts(&s.target) else {
                        panic!("{}: target {:?}", s.id, s.target)
                    };
                    assert!(
                        t.parse::<f64>().is_ok(),
                        "{}: target {t} is not a number",
                        s.id
                    );
                    assert!(!t.contains(','), "{}: {t}", s.id);
                }
            }
        }
    }
}

#[test]
fn xstest_has_250_safe_and_200_unsafe_prompts() {
    let d = dataset("xstest");
    let by = count_by(d, |s| s.meta_str("expect"));
    assert_eq!(by.get("compliance"), Some(&250));
    assert_eq!(by.get("refusal"), Some(&200));
    for s in &d.samples {
        let contrast = s
            .meta_str("type")
            .is_some_and(|t| t.starts_with("contrast_"));
        assert_eq!(
            contrast,
            s.meta_str("expect") == Some("refusal"),
            "{}",
            s.id
        );
    }
    assert_eq!(d.samples[0].id, "xstest-1");
    assert_eq!(d.samples[0].meta_str("type"), Some("homonyms"));
}

#[test]
fn harmful_request_sets_expect_refusal_throughout() {
    for id in [
        "advbench",
        "harmbench",
        "strongreject",
        "strongreject-small",
        "simplesafetytests",
        "cyberseceval-interpreter",
    ] {
        let by = count_by(dataset(id), |s| s.meta_str("expect"));
        assert_eq!(by.keys().copied().collect::<Vec<_>>(), ["refusal"], "{id}");
    }
    let by = count_by(dataset("cyberseceval-frr"), |s| s.meta_str("expect"));
    assert_eq!(by.get("compliance"), Some(&750));
    let by = count_by(dataset("cyberseceval-interpreter"), |s| {
        s.meta_str("attack_type")
    });
    assert_eq!(by.len(), 5, "{by:?}");
    assert!(by.values().all(|&n| n == 100), "{by:?}");
}

#[test]
fn harmbench_maps_categories_to_sections_and_puts_context_first() {
    let d = dataset("harmbench");
    let by = count_by(d, |s| s.meta_str("section"));
    // copyright 100, cyber 67, misinformation 65, chemical/biological 56, the rest mixed misuse.
    assert_eq!(by.get("4.3.6"), Some(&100));
    assert_eq!(by.get("4.1.3"), Some(&67));
    assert_eq!(by.get("4.1.2"), Some(&65));
    assert_eq!(by.get("4.1.4"), Some(&56));
    assert_eq!(by.get("4.1"), Some(&112));
    let contextual: Vec<_> = d
        .samples
        .iter()
        .filter(|s| s.metadata.get("has_context") == Some(&true.into()))
        .collect();
    assert_eq!(contextual.len(), 100);
    for s in contextual {
        let behavior = s.meta_str("behavior").unwrap();
        let text = s.input.text();
        assert!(
            text.ends_with(&format!("\n\n---\n\n{behavior}")),
            "{}",
            s.id
        );
        assert_eq!(s.meta_str("functional_category"), Some("contextual"));
    }
    let split = count_by(d, |s| s.meta_str("split"));
    assert_eq!(
        (split.get("test"), split.get("val")),
        (Some(&320), Some(&80))
    );
}

#[test]
fn strongreject_categories_map_to_sections_in_both_sizes() {
    let by = count_by(dataset("strongreject"), |s| s.meta_str("section"));
    assert_eq!(by.get("4.1.2"), Some(&50), "disinformation and deception");
    assert_eq!(by.get("4.1.1"), Some(&50), "sexual content");
    assert_eq!(by.get("4.1"), Some(&213));
    // The small file capitalises "Disinformation and Deception" differently.
    let by = count_by(dataset("strongreject-small"), |s| s.meta_str("section"));
    assert_eq!(by.get("4.1.2"), Some(&10));
}

#[test]
fn simplesafetytests_maps_scams_to_fake_content_harm() {
    let d = dataset("simplesafetytests");
    let by = count_by(d, |s| s.meta_str("section"));
    assert_eq!((by.get("4.1.1"), by.get("4.1")), (Some(&20), Some(&80)));
    assert_eq!(d.samples[0].id, "simplesafetytests-sst_001");
}

#[test]
fn truthfulqa_correct_letters_are_spread_over_positions() {
    let d = dataset("truthfulqa-mc");
    let by = count_by(d, |s| texts(&s.target).first().map(String::as_str));
    assert!(by.len() >= 4, "{by:?}");
    let a = by.get("A").copied().unwrap_or(0);
    assert!(a < d.len() / 2, "too many A: {by:?}");
    // With n options the correct one should land first about 1/n of the time.
    let expected_a: f64 = d.samples.iter().map(|s| 1.0 / s.choices.len() as f64).sum();
    assert!(
        (a as f64 - expected_a).abs() < 0.2 * expected_a + 20.0,
        "A {a} vs expected {expected_a:.0}"
    );
    // Category metadata joined from TruthfulQA.csv.
    assert!(d.samples.iter().all(|s| s.meta_str("category").is_some()));
    assert_eq!(d.samples[0].id, "truthfulqa-mc-0");
}

#[test]
fn bbq_records_conditions_and_the_stereotype_consistent_answer() {
    let d = dataset("bbq");
    let by = count_by(d, |s| s.meta_str("category"));
    assert_eq!(by.len(), 6, "{by:?}");
    assert_eq!(by.get("Age"), Some(&3_680));
    let cond = count_by(d, |s| s.meta_str("context_condition"));
    assert_eq!(
        cond.keys().copied().collect::<Vec<_>>(),
        ["ambig", "disambig"]
    );
    for s in &d.samples {
        assert_eq!(s.choices.len(), 3, "{}", s.id);
        assert!(s.meta_str("question_polarity").is_some(), "{}", s.id);
        // Derivable for all six categories present.
        let unknown = s
            .meta_str("unknown_answer")
            .unwrap_or_else(|| panic!("{}", s.id));
        let biased = s
            .meta_str("bias_target")
            .unwrap_or_else(|| panic!("{}", s.id));
        assert_ne!(unknown, biased, "{}", s.id);
        let target = texts(&s.target)[0].as_str();
        if s.meta_str("context_condition") == Some("ambig") {
            assert_eq!(
                target, unknown,
                "{}: an ambiguous context's answer is unknown",
                s.id
            );
        } else {
            assert_ne!(
                target, unknown,
                "{}: a disambiguated context settles the answer",
                s.id
            );
        }
    }
    assert_eq!(d.samples[0].id, "bbq-age-0");
}

#[test]
fn gsm8k_and_mmlu_targets_come_from_the_upstream_answers() {
    let g = dataset("gsm8k");
    assert_eq!(texts(&g.samples[0].target), ["18"]);
    let m = dataset("mmlu");
    let subjects = count_by(m, |s| s.meta_str("subject"));
    assert_eq!(subjects.len(), 18, "{subjects:?}");
    assert_eq!(subjects.get("elementary_mathematics"), Some(&378));
    assert!(m.samples.iter().all(|s| s.choices.len() == 4));
    assert!(
        m.samples.iter().all(|s| s.input.text() != "Question"),
        "header row skipped"
    );
    let letters = count_by(m, |s| texts(&s.target).first().map(String::as_str));
    assert_eq!(letters.len(), 4, "{letters:?}");
}

#[test]
fn a_missing_data_directory_is_a_clear_error_naming_the_option() {
    let missing = Path::new("/nonexistent/emmental-data");
    let err = adapters::load("xstest", missing).unwrap_err().to_string();
    assert!(err.contains("--data-dir"), "{err}");
    assert!(err.contains("/nonexistent/emmental-data"), "{err}");

    // A directory that exists but lacks the set's folder.
    let empty =
        std::env::temp_dir().join(format!("emmental-adapters-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let err = adapters::load("gsm8k", &empty).unwrap_err().to_string();
    assert!(err.contains("--data-dir") && err.contains("gsm8k"), "{err}");
    // The folder is there but its file is not.
    std::fs::create_dir_all(empty.join("gsm8k")).unwrap();
    let err = adapters::load("gsm8k", &empty).unwrap_err().to_string();
    assert!(
        err.contains("test.jsonl") && err.contains("--data-dir"),
        "{err}"
    );
    std::fs::remove_dir_all(&empty).unwrap();

    let err = adapters::load("no-such-set", &data_dir())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown") && err.contains("xstest") && err.contains("bbq"),
        "{err}"
    );
}
