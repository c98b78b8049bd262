//! Readers for the public data sets the classifiers train on, each in its upstream format
//! (the layout of `../shared/data`; every folder's `SOURCE.md` says where it comes from).
//! They read; deciding what a row means for a detector is [`super::assemble`]'s job.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::DetectorError;
use crate::data::read_jsonl;

fn read(path: &Path) -> Result<String, DetectorError> {
    std::fs::read_to_string(path).map_err(|e| DetectorError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn bad(path: &Path, line: usize, message: impl Into<String>) -> DetectorError {
    DetectorError::Data {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn json(path: &Path) -> Result<Value, DetectorError> {
    serde_json::from_str(&read(path)?).map_err(|e| bad(path, e.line(), e.to_string()))
}

/// Rows of a CSV file as maps from column name to value; `need` columns must exist.
fn csv_rows(
    path: &Path,
    need: &[&str],
) -> Result<Vec<std::collections::HashMap<String, String>>, DetectorError> {
    let body = read(path)?;
    let mut rdr = csv::Reader::from_reader(body.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| bad(path, 1, e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    for n in need {
        if !headers.iter().any(|h| h == n) {
            return Err(bad(
                path,
                1,
                format!("no `{n}` column (columns: {})", headers.join(", ")),
            ));
        }
    }
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| bad(path, i + 2, e.to_string()))?;
        out.push(
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect(),
        );
    }
    Ok(out)
}

/// One human-labelled XSTest completion, with the automatic baselines' labels for that row.
#[derive(Debug, Clone)]
pub struct XsCompletion {
    /// `llama2new`, `llama2orig`, `mistralinstruct`.
    pub model: String,
    pub id: String,
    /// Prompt type; `contrast_*` types are the unsafe prompts.
    pub kind: String,
    pub prompt: String,
    pub completion: String,
    /// `1_full_compliance`, `2_full_refusal` or `3_partial_refusal`.
    pub final_label: String,
    /// The string-match baseline's label, if its file is present.
    pub strmatch: Option<String>,
    /// The GPT-4 judge's label (a few are free text upstream), if its file is present.
    pub gpt4: Option<String>,
}

impl XsCompletion {
    pub fn unsafe_prompt(&self) -> bool {
        self.kind.starts_with("contrast_")
    }
}

/// The XSTest completion files present (sorted), with baseline labels joined by row id.
pub fn xstest_completions(dir: &Path) -> Result<Vec<XsCompletion>, DetectorError> {
    let folder = dir.join("xstest/model_completions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(|e| DetectorError::Io {
            path: folder.clone(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let stem = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let model = stem.rsplit('_').next().unwrap_or_default().to_string();
        let auto = |suffix: &str,
                    col: &str|
         -> Result<std::collections::HashMap<String, String>, DetectorError> {
            let p = dir.join(format!(
                "xstest/evaluation/automated_evaluation_labels/{stem}_{suffix}.csv"
            ));
            if !p.exists() {
                return Ok(Default::default());
            }
            Ok(csv_rows(&p, &["id", col])?
                .into_iter()
                .map(|mut r| {
                    (
                        r.remove("id").unwrap_or_default(),
                        r.remove(col).unwrap_or_default(),
                    )
                })
                .collect())
        };
        let str_labels = auto("streval", "strmatch_label")?;
        let gpt_labels = auto("gpteval", "gpt4_label")?;
        for mut r in csv_rows(&f, &["id", "type", "prompt", "completion", "final_label"])? {
            let mut take = |k: &str| r.remove(k).unwrap_or_default();
            let id = take("id");
            out.push(XsCompletion {
                model: model.clone(),
                strmatch: str_labels.get(&id).cloned(),
                gpt4: gpt_labels.get(&id).cloned(),
                id,
                kind: take("type"),
                prompt: take("prompt"),
                completion: take("completion").trim().to_string(),
                final_label: take("final_label"),
            });
        }
    }
    Ok(out)
}

/// XSTest's 450 prompts: (prompt, is the prompt unsafe).
pub fn xstest_prompts(dir: &Path) -> Result<Vec<(String, bool)>, DetectorError> {
    Ok(
        csv_rows(&dir.join("xstest/xstest_prompts.csv"), &["prompt", "label"])?
            .into_iter()
            .map(|r| (r["prompt"].clone(), r["label"] == "unsafe"))
            .collect(),
    )
}

/// One JailbreakBench artifact record.
#[derive(Debug, Clone)]
pub struct JbbRecord {
    pub method: String,
    pub model: String,
    pub goal: String,
    pub prompt: Option<String>,
    pub response: Option<String>,
    /// The JailbreakBench LLM judge's verdict (a machine label).
    pub jailbroken: bool,
}

/// Every record of `jailbreakbench_artifacts/attack-artifacts/<METHOD>/<type>/<model>.json`.
pub fn jailbreakbench(dir: &Path) -> Result<Vec<JbbRecord>, DetectorError> {
    let root = dir.join("jailbreakbench_artifacts/attack-artifacts");
    let mut files = Vec::new();
    let list = |p: &Path| -> Result<Vec<PathBuf>, DetectorError> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| DetectorError::Io {
                path: p.to_path_buf(),
                source: e,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    for method in list(&root)? {
        if !method.is_dir() {
            continue;
        }
        for kind in list(&method)? {
            if kind.is_dir() {
                files.extend(
                    list(&kind)?
                        .into_iter()
                        .filter(|p| p.extension().is_some_and(|x| x == "json")),
                );
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        let v = json(&f)?;
        let params = &v["parameters"];
        let s = |x: &Value| x.as_str().map(str::to_string);
        let method = s(&params["method"]).unwrap_or_default();
        let model = s(&params["model"]).unwrap_or_default();
        let Some(items) = v["jailbreaks"].as_array() else {
            return Err(bad(&f, 1, "no `jailbreaks` array"));
        };
        for j in items {
            out.push(JbbRecord {
                method: method.clone(),
                model: model.clone(),
                goal: s(&j["goal"]).ok_or_else(|| bad(&f, 1, "a record has no `goal`"))?,
                prompt: s(&j["prompt"]),
                response: s(&j["response"]),
                jailbroken: j["jailbroken"].as_bool().unwrap_or(false),
            });
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct TensorTrustRow {
    attack: String,
}

/// Tensor Trust's hijacking and extraction attacks (human-written prompt injections).
pub fn tensor_trust_attacks(dir: &Path) -> Result<Vec<String>, DetectorError> {
    let mut out = Vec::new();
    for f in [
        "tensor_trust/benchmarks/hijacking-robustness/v1/hijacking_robustness_dataset.jsonl",
        "tensor_trust/benchmarks/extraction-robustness/v1/extraction_robustness_dataset.jsonl",
    ] {
        out.extend(
            read_jsonl::<TensorTrustRow>(&dir.join(f))?
                .into_iter()
                .map(|(_, r)| r.attack),
        );
    }
    Ok(out)
}

/// A BIPIA context: the external content a user asks about, and the user's question.
#[derive(Debug, Clone)]
pub struct BipiaContext {
    /// `email`, `table` or `code`.
    pub task: &'static str,
    pub content: String,
    pub question: String,
}

fn lines_or_string(v: &Value) -> String {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// BIPIA's contexts (email, table, code; train and test files alike).
pub fn bipia_contexts(dir: &Path) -> Result<Vec<BipiaContext>, DetectorError> {
    let mut out = Vec::new();
    for (task, file) in [
        ("email", "train"),
        ("email", "test"),
        ("table", "test"),
        ("code", "train"),
        ("code", "test"),
    ] {
        let p = dir.join(format!("bipia/benchmark/{task}/{file}.jsonl"));
        for (_, v) in read_jsonl::<Value>(&p)? {
            let (content, question) = if task == "code" {
                (
                    lines_or_string(&v["context"]),
                    format!(
                        "Fix this error:\n{}\n{}",
                        lines_or_string(&v["error"]),
                        lines_or_string(&v["code"])
                    ),
                )
            } else {
                (
                    lines_or_string(&v["context"]),
                    lines_or_string(&v["question"]),
                )
            };
            out.push(BipiaContext {
                task,
                content,
                question,
            });
        }
    }
    Ok(out)
}

/// BIPIA's attack instructions: (`text` or `code`, category, instruction).
pub fn bipia_attacks(dir: &Path) -> Result<Vec<(&'static str, String, String)>, DetectorError> {
    let mut out = Vec::new();
    for (kind, file) in [
        ("text", "text_attack_train"),
        ("text", "text_attack_test"),
        ("code", "code_attack_train"),
        ("code", "code_attack_test"),
    ] {
        let p = dir.join(format!("bipia/benchmark/{file}.json"));
        let v = json(&p)?;
        let Some(map) = v.as_object() else {
            return Err(bad(&p, 1, "expected an object of category → attacks"));
        };
        for (cat, list) in map {
            for a in list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                out.push((kind, cat.clone(), a.to_string()));
            }
        }
    }
    Ok(out)
}

/// In-the-wild jailbreak prompts (both releases; duplicates are the caller's to remove).
pub fn jailbreak_llms_prompts(dir: &Path) -> Result<Vec<String>, DetectorError> {
    let mut out = Vec::new();
    for f in [
        "jailbreak_prompts_2023_12_25.csv",
        "jailbreak_prompts_2023_05_07.csv",
    ] {
        for r in csv_rows(
            &dir.join("jailbreak_llms").join(f),
            &["prompt", "jailbreak"],
        )? {
            if r["jailbreak"].eq_ignore_ascii_case("true") {
                out.push(r["prompt"].clone());
            }
        }
    }
    Ok(out)
}

/// The forbidden-question set: plain harmful requests with no jailbreak.
pub fn forbidden_questions(dir: &Path) -> Result<Vec<String>, DetectorError> {
    Ok(csv_rows(
        &dir.join("jailbreak_llms/forbidden_question_set.csv"),
        &["question"],
    )?
    .into_iter()
    .map(|r| r["question"].clone())
    .collect())
}

/// CyberSecEval's prompt-injection user inputs: (language, injection variant, text), English
/// file first, then the machine-translated one.
pub fn cyberseceval_injections(dir: &Path) -> Result<Vec<(String, String, String)>, DetectorError> {
    let mut out = Vec::new();
    for f in [
        "prompt_injection.json",
        "prompt_injection_multilingual_machine_translated.json",
    ] {
        let p = dir.join("cyberseceval/datasets/prompt_injection").join(f);
        let v = json(&p)?;
        for item in v.as_array().into_iter().flatten() {
            let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
            let text = s("user_input");
            if text.trim().is_empty() {
                return Err(bad(&p, 1, "an item has no `user_input`"));
            }
            out.push((s("speaking_language"), s("injection_variant"), text));
        }
    }
    Ok(out)
}

/// CyberSecEval's MITRE false-refusal prompts: benign, security-flavoured coding requests.
pub fn cyberseceval_frr(dir: &Path) -> Result<Vec<String>, DetectorError> {
    let p = dir.join("cyberseceval/datasets/mitre_frr/mitre_frr.json");
    Ok(json(&p)?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["mutated_prompt"].as_str().map(str::to_string))
        .collect())
}

/// NotInject: (category, prompt), all benign prompts full of injection trigger words.
pub fn notinject(dir: &Path) -> Result<Vec<(String, String)>, DetectorError> {
    let mut out = Vec::new();
    for f in [
        "NotInject_one.json",
        "NotInject_two.json",
        "NotInject_three.json",
    ] {
        let v = json(&dir.join("notinject").join(f))?;
        for item in v.as_array().into_iter().flatten() {
            let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
            out.push((s("category"), s("prompt")));
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Gsm8kRow {
    question: String,
}

/// GSM8K maths questions (test file).
pub fn gsm8k(dir: &Path) -> Result<Vec<String>, DetectorError> {
    Ok(read_jsonl::<Gsm8kRow>(&dir.join("gsm8k/test.jsonl"))?
        .into_iter()
        .map(|(_, r)| r.question)
        .collect())
}

/// MMLU subset questions (question text only), subjects in file-name order.
pub fn mmlu(dir: &Path) -> Result<Vec<String>, DetectorError> {
    let folder = dir.join("mmlu_subset/test");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(|e| DetectorError::Io {
            path: folder.clone(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        out.extend(
            csv_rows(&f, &["Question"])?
                .into_iter()
                .map(|r| r["Question"].clone()),
        );
    }
    Ok(out)
}

/// TruthfulQA questions.
pub fn truthfulqa_questions(dir: &Path) -> Result<Vec<String>, DetectorError> {
    Ok(
        csv_rows(&dir.join("truthfulqa/TruthfulQA.csv"), &["Question"])?
            .into_iter()
            .map(|r| r["Question"].clone())
            .collect(),
    )
}

/// Plain harmful requests (no jailbreak): AdvBench behaviours, HarmBench behaviours (standard
/// ones, without their context strings), StrongREJECT prompts. Returns (source, text).
pub fn harmful_requests(dir: &Path) -> Result<Vec<(&'static str, String)>, DetectorError> {
    let mut out = Vec::new();
    for r in csv_rows(&dir.join("advbench/harmful_behaviors.csv"), &["goal"])? {
        out.push(("advbench", r["goal"].clone()));
    }
    for r in csv_rows(
        &dir.join("harmbench/behavior_datasets/harmbench_behaviors_text_all.csv"),
        &["Behavior", "FunctionalCategory"],
    )? {
        if r["FunctionalCategory"] == "standard" {
            out.push(("harmbench", r["Behavior"].clone()));
        }
    }
    for r in csv_rows(
        &dir.join("strongreject/strongreject_dataset.csv"),
        &["forbidden_prompt"],
    )? {
        out.push(("strongreject", r["forbidden_prompt"].clone()));
    }
    Ok(out)
}

/// Short benign conversational messages written for this project (greetings, thanks, small
/// talk, short everyday questions and requests, in several languages): what a chat user
/// commonly sends and no public set here holds. Built into the binary, so they need no data
/// directory; `data/conversational.txt` says what they are.
pub const CONVERSATIONAL: &str = include_str!("../../data/conversational.txt");

/// The messages of [`CONVERSATIONAL`], in file order: every line that is neither blank nor a
/// `#` comment.
pub fn conversational() -> Vec<String> {
    messages(CONVERSATIONAL)
}

/// Benign messages about the user's own content, written for this project: users sharing their
/// own e-mail address, phone number, postal address or order numbers with an ordinary request,
/// asking to repeat, rephrase, translate, summarise or correct their own text, and referring
/// to their own earlier messages ("ignore my typo", "forget what I said about …"), in several
/// languages. The public injection sets put addresses and "ignore … / repeat …" wording only in
/// attacks; `data/own_content.txt` says what these are.
pub const OWN_CONTENT: &str = include_str!("../../data/own_content.txt");

/// The messages of [`OWN_CONTENT`], in file order.
pub fn own_content() -> Vec<String> {
    messages(OWN_CONTENT)
}

/// Benign everyday requests and questions written for this project, one to three sentences
/// long (recipes, travel, study, health information, tech and writing help, shopping, history,
/// science, money, hobbies, work), in English and over 30 other languages, some with
/// instruction-like words used benignly ("ignore the noise and focus", "pretend I'm a beginner
/// and explain …"). The public sets' non-English text is almost all attacks, so a head trained
/// on them alone flags ordinary non-English questions; `data/everyday.txt` says what these are.
pub const EVERYDAY: &str = include_str!("../../data/everyday.txt");

/// The messages of [`EVERYDAY`], in file order.
pub fn everyday() -> Vec<String> {
    messages(EVERYDAY)
}

/// Injection attacks written for this project, of the kinds the public positive sets here lack:
/// instructions hidden in e-mails, documents, web pages and tool results that tell the assistant
/// to send, forward, upload, post or encode the user's data to an outside address, URL or
/// webhook, or to act for the attacker (pay, change settings, delete files, send messages); and
/// short bare overrides ("disregard the above"), in several languages. The public sets' attacks
/// mostly ask for a password or the system prompt; `data/attacks.txt` says what these are.
pub const ATTACKS: &str = include_str!("../../data/attacks.txt");

/// The messages of [`ATTACKS`], in file order.
pub fn attacks() -> Vec<String> {
    messages(ATTACKS)
}

/// Every line of a project-written message file that is neither blank nor a `#` comment.
fn messages(file: &str) -> Vec<String> {
    file.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_name_missing_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "\u{feff}a,b\n1,2\n").unwrap();
        let rows = csv_rows(&p, &["a"]).unwrap();
        assert_eq!(rows[0]["a"], "1");
        let err = csv_rows(&p, &["prompt"]).unwrap_err().to_string();
        assert!(err.contains("no `prompt` column"), "{err}");
    }

    #[test]
    fn missing_data_is_an_error_naming_the_path() {
        let err = xstest_completions(Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/xstest/model_completions"),
            "{err}"
        );
    }

    #[test]
    fn project_message_files_are_many_and_comment_free() {
        // (file, its messages, a known line or part of one, whether that is a whole line)
        for (file, m, has, whole) in [
            ("conversational", conversational(), "good morning", true),
            ("own_content", own_content(), "@example.com", false),
            ("everyday", everyday(), "Why do we have leap years?", true),
            ("attacks", attacks(), "disregard the above", true),
        ] {
            assert!(m.len() >= 300, "{file}: {} messages", m.len());
            assert!(
                m.iter()
                    .all(|t| !t.starts_with('#') && !t.trim().is_empty()),
                "{file}"
            );
            let known = |t: &String| if whole { t == has } else { t.contains(has) };
            assert!(m.iter().any(known), "{file}");
        }
    }
}
