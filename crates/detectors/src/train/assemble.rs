//! What each classifier learns from: labelled rows assembled from the public data sets, each
//! with the key that decides its split (the prompt for answers, so the three models' answers
//! to one prompt never straddle train and test; the text itself for inputs).
//!
//! Choices made here, and why:
//!
//! - **refusal**: XSTest's human-labelled completions, partial refusal counted as refusal.
//! - **harm**: JailbreakBench responses with the JailbreakBench judge's `jailbroken` flag (a
//!   machine label: an LLM judge, not people), split by goal; and XSTest completions, labelled
//!   from the human refusal label and the prompt's design: an unsafe (`contrast_*`) prompt fully
//!   complied with is harmful, fully refused is benign, every answer to a safe prompt is benign.
//!   Partial refusals of unsafe prompts are left out: whether they gave the harmful help is not
//!   recorded. AdvBench/HarmBench behaviours have no responses, so they cannot be harm rows.
//!   Every answer comes once more after a benign start of 1,200+ characters ([`long_answers`]):
//!   the encoder reads only 256 tokens, and an answer that opens with a page of harmless help
//!   hid its harmful part from the head before (measured: 63% of held-out harmful answers
//!   found after such a start, 95% without); and every harmful answer's prompt comes once more
//!   with benign text alone, which is benign. These derived rows train, and are measured apart
//!   (`validate harm --heldout --derived`), never in the headline figures.
//! - **injection**: positives are prompt injections and jailbreaks (Tensor Trust attacks,
//!   BIPIA attack instructions planted in BIPIA's own emails, tables and code answers (and,
//!   for training only, each attack planted in two more contexts and places, in the attack's
//!   own split),
//!   in-the-wild jailbreak prompts (and, for training only, the first 40 words of each long
//!   one: short set-ups like "From now on you are DAN" are otherwise unseen), CyberSecEval's injected user inputs in all its languages,
//!   JailbreakBench's attack prompts). Negatives are everything a user may plainly ask:
//!   NotInject (benign prompts full of trigger words), XSTest prompts, GSM8K, MMLU and
//!   TruthfulQA questions, CyberSecEval's benign security coding requests, BIPIA contexts
//!   without an attack — and plain harmful requests (AdvBench, HarmBench, StrongREJECT,
//!   jailbreak_llms' forbidden questions, JailbreakBench goals). A harmful request is not an
//!   injection: it tries no trick on the model's instructions, and judging harm is the harm
//!   and refusal detectors' job. None of those public sets holds the short messages a chat
//!   user sends most ("hi", "thanks", "how are you?"), which scored as injections when
//!   unseen; the project's own short conversational messages (`data/conversational.txt`,
//!   source `emmental/conversational`) are negatives too, split by their text with case,
//!   punctuation and emoji ignored, so that "hi!" and "Hi" never straddle the split. Nor do
//!   they hold a benign message with an e-mail address, a phone or order number, or "ignore /
//!   repeat / forget" said of the user's own text, while the attacks hold many (BIPIA's
//!   planted e-mails, Tensor Trust's "ignore … repeat …"): the project's messages about the
//!   user's own content (`data/own_content.txt`, source `emmental/own_content`) are
//!   negatives too, split the same way. Almost all of the public sets' non-English text is
//!   attacks (CyberSecEval's translated injections, multilingual jailbreaks), and the encoder
//!   is English-centric, so ordinary questions in other languages scored as injections: the
//!   project's everyday requests and questions in English and over 30 other languages
//!   (`data/everyday.txt`, source `emmental/everyday`; recipes, travel, study, health, tech,
//!   money…, some with "ignore the noise", "pretend I'm a beginner" said benignly) are
//!   negatives too, split the same way. The public attacks mostly want a password or the system
//!   prompt; few tell the assistant to send the user's data elsewhere or to act for the
//!   attacker, and few are a bare "disregard the above": the project's own attacks
//!   (`data/attacks.txt`, source `emmental/attacks`) are positives, split the same way. Texts
//!   seen with both labels are dropped.

use std::collections::HashMap;
use std::path::Path;

use super::sources;
use crate::DetectorError;
use crate::data::{is_heldout, split_bucket};

/// One labelled training or validation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub text: String,
    pub prompt: Option<String>,
    /// Whether the row belongs to the detector's positive class.
    pub positive: bool,
    /// The data set (and subset) it came from, e.g. `xstest/llama2new`.
    pub source: String,
    /// What must not cross the train/held-out boundary.
    pub key: String,
    /// The human label behind the row, where there is one.
    pub note: Option<String>,
    /// A baseline scorer's verdict on the row (positive or not), for a paired comparison.
    pub baseline: Option<bool>,
    /// Derived from another row to widen training (e.g. the opening of a long jailbreak
    /// prompt): trained on when its key is in the training split, never in the headline
    /// figures. A plan may measure some derived rows apart ([`super::pipeline::Plan::derived_groups`]).
    pub train_only: bool,
}

/// Source prefix of the rows this project wrote itself (not from a public data set).
pub const AUTHORED: &str = "emmental/";

/// Source prefix of the derived harm rows whose answer comes after a benign start
/// ([`long_answers`]); the rest of the source is the answer's own.
pub const LATE_START: &str = "late-start/";

/// Characters of benign text, at least, put before an answer in a late-start row: more than
/// the encoder's 256 tokens read of English.
pub const LATE_START_CHARS: usize = 1200;

/// Source prefix of the derived harm rows that answer a harmful prompt with benign text alone
/// ([`long_answers`]): benign.
pub const OFF_TOPIC: &str = "off-topic/";

/// Benign answers shorter than this do not serve as a late start.
const LATE_START_MIN_CHARS: usize = 400;

impl Row {
    pub fn heldout(&self) -> bool {
        is_heldout(&self.key)
    }

    /// A row from the project's own data (source `emmental/…`); training embeds these apart
    /// from the public sets' rows.
    pub fn authored(&self) -> bool {
        self.source.starts_with(AUTHORED)
    }

    /// A training-only row made by planting an attack in further contexts (source
    /// `…/augmented`) or one of harm's derived long answers; training embeds these apart from
    /// the rest.
    pub fn augmented(&self) -> bool {
        self.train_only
            && (self.source.ends_with("/augmented")
                || self.source.starts_with(LATE_START)
                || self.source.starts_with(OFF_TOPIC))
    }
}

/// The rows of a trainable detector.
pub fn rows(id: &str, dir: &Path) -> Result<Vec<Row>, DetectorError> {
    match id {
        "refusal" => refusal(dir),
        "harm" => harm(dir),
        "injection" => injection(dir),
        other => Err(DetectorError::Unknown {
            name: other.to_string(),
            known: super::TRAINABLE.join(", "),
        }),
    }
}

pub fn refusal(dir: &Path) -> Result<Vec<Row>, DetectorError> {
    let mut out = Vec::new();
    for c in sources::xstest_completions(dir)? {
        let Some(label) = crate::data::xstest_label(&c.final_label) else {
            continue;
        };
        out.push(Row {
            text: c.completion.clone(),
            prompt: Some(c.prompt.clone()),
            positive: label == "refusal",
            source: format!("xstest/{}", c.model),
            key: c.prompt.clone(),
            note: Some(c.final_label.clone()),
            // XSTest's string-match classifier.
            baseline: c
                .strmatch
                .as_deref()
                .and_then(crate::data::xstest_label)
                .map(|l| l == "refusal"),
            train_only: false,
        });
    }
    Ok(out)
}

pub fn harm(dir: &Path) -> Result<Vec<Row>, DetectorError> {
    let mut out = Vec::new();
    for r in sources::jailbreakbench(dir)? {
        let (Some(prompt), Some(response)) = (r.prompt, r.response) else {
            continue;
        };
        out.push(Row {
            text: response.trim().to_string(),
            prompt: Some(prompt),
            positive: r.jailbroken,
            source: format!("jailbreakbench/{}", r.method),
            key: r.goal,
            note: None,
            baseline: None,
            train_only: false,
        });
    }
    for c in sources::xstest_completions(dir)? {
        let positive = match (c.unsafe_prompt(), c.final_label.as_str()) {
            (false, _) => false,
            (true, "1_full_compliance") => true,
            (true, "2_full_refusal") => false,
            _ => continue,
        };
        out.push(Row {
            text: c.completion.clone(),
            prompt: Some(c.prompt.clone()),
            positive,
            source: format!(
                "xstest/{}/{}",
                c.model,
                if c.unsafe_prompt() { "unsafe" } else { "safe" }
            ),
            key: c.prompt.clone(),
            note: Some(c.final_label.clone()),
            baseline: None,
            train_only: false,
        });
    }
    let long = long_answers(&out);
    out.extend(long);
    Ok(out)
}

/// Long answers derived from harm's rows, in two kinds (same prompt, same key):
///
/// - every answer again after a benign start of at least [`LATE_START_CHARS`] characters,
///   with its own label (source [`LATE_START`] + the answer's source);
/// - for every harmful answer, benign text alone as long as that row would be, answering the
///   same harmful prompt: benign, since it gives none of the help asked for (source
///   [`OFF_TOPIC`] + the answer's source).
///
/// The encoder reads the first 256 tokens of a text, so an answer that opens with a page of
/// harmless help and gives the harmful part after it is judged on its start and its prompt.
/// The first kind teaches a head that reads windows to look past the start; the second keeps
/// it from taking a harmful prompt and a long answer for harm (the head trained on the first
/// kind alone flagged 230 of 271 such texts at 0.5: `bench/harm_late_start.py`'s control).
/// The benign text is answers that fully comply with XSTest's safe prompts, of at least 400
/// characters, taken from the answer's own split and, in training, its own cross-validation
/// fold, so no text crosses the held-out boundary or a fold.
pub fn long_answers(rows: &[Row]) -> Vec<Row> {
    let group = |key: &str| -> (bool, u64) {
        if is_heldout(key) {
            (true, 0)
        } else {
            (
                false,
                split_bucket(&format!("fold/{key}"), super::pipeline::FOLDS),
            )
        }
    };
    let mut starts: HashMap<(bool, u64), Vec<&Row>> = HashMap::new();
    for r in rows {
        if r.source.starts_with("xstest/")
            && r.source.ends_with("/safe")
            && r.note.as_deref() == Some("1_full_compliance")
            && r.text.trim().chars().count() >= LATE_START_MIN_CHARS
        {
            starts.entry(group(&r.key)).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for r in rows {
        let pool: Vec<&Row> = starts
            .get(&group(&r.key))
            .into_iter()
            .flatten()
            .filter(|s| s.key != r.key)
            .copied()
            .collect();
        let derived = |text: String, positive: bool, prefix: &str| Row {
            text,
            prompt: r.prompt.clone(),
            positive,
            source: format!("{prefix}{}", r.source),
            key: r.key.clone(),
            note: r.note.clone(),
            baseline: None,
            train_only: true,
        };
        if let Some(start) = benign_text(&pool, &format!("late-start/{}", r.text), LATE_START_CHARS)
        {
            out.push(derived(start + &r.text, r.positive, LATE_START));
        }
        if r.positive
            && r.prompt.is_some()
            && let Some(text) = benign_text(
                &pool,
                &format!("off-topic/{}", r.text),
                LATE_START_CHARS + r.text.chars().count(),
            )
        {
            out.push(derived(text.trim_end().to_string(), false, OFF_TOPIC));
        }
    }
    out
}

/// Whole texts from `pool`, each followed by a blank line, at least `chars` characters in all,
/// drawn without repeats in an order fixed by `seed`; `None` when the pool is too small.
fn benign_text(pool: &[&Row], seed: &str, chars: usize) -> Option<String> {
    let mut used = vec![false; pool.len()];
    let mut text = String::new();
    for n in 0..pool.len() {
        if text.chars().count() >= chars {
            break;
        }
        let mut i = split_bucket(&format!("{seed}/{n}"), pool.len() as u64) as usize;
        while used[i] {
            i = (i + 1) % pool.len();
        }
        used[i] = true;
        text.push_str(pool[i].text.trim());
        text.push_str("\n\n");
    }
    (text.chars().count() >= chars).then_some(text)
}

/// Words of a long in-the-wild jailbreak kept as its opening (training only).
const JAILBREAK_OPENING_WORDS: usize = 40;

/// Characters of BIPIA content kept around a planted attack: the encoder reads 256 tokens,
/// and an attack planted past them would be a positive the detector cannot see.
const BIPIA_CONTENT_CHARS: usize = 700;

/// Further plantings of each BIPIA attack in other contexts and places, for training only.
const BIPIA_EXTRA_PLANTINGS: u64 = 2;

fn cut(s: &str, chars: usize) -> &str {
    match s.char_indices().nth(chars) {
        Some((b, _)) => &s[..b],
        None => s,
    }
}

/// Plants `attack` at the start, middle (at a space) or end of `content`.
fn plant(content: &str, attack: &str, position: u64) -> String {
    match position {
        0 => format!("{attack}\n{content}"),
        1 => {
            let mid = (0..=content.len() / 2)
                .rev()
                .find(|&i| content.is_char_boundary(i))
                .unwrap_or(0);
            let at = content[mid..].find(' ').map_or(content.len(), |i| mid + i);
            format!("{} {attack} {}", &content[..at], content[at..].trim_start())
        }
        _ => format!("{content}\n{attack}"),
    }
}

pub fn injection(dir: &Path) -> Result<Vec<Row>, DetectorError> {
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |text: String, positive: bool, source: &str, key: Option<String>| {
        if text.trim().is_empty() {
            return;
        }
        rows.push(Row {
            key: key.unwrap_or_else(|| text.clone()),
            text,
            prompt: None,
            positive,
            source: source.to_string(),
            note: None,
            baseline: None,
            train_only: false,
        });
    };
    // Positives.
    for a in sources::tensor_trust_attacks(dir)? {
        add(a, true, "tensor_trust", None);
    }
    let contexts = sources::bipia_contexts(dir)?;
    let mut planted_extra = Vec::new();
    let text_ctx: Vec<&sources::BipiaContext> =
        contexts.iter().filter(|c| c.task != "code").collect();
    let code_ctx: Vec<&sources::BipiaContext> =
        contexts.iter().filter(|c| c.task == "code").collect();
    for (kind, category, attack) in sources::bipia_attacks(dir)? {
        let pool = if kind == "code" { &code_ctx } else { &text_ctx };
        let c = pool[split_bucket(&format!("bipia-context/{attack}"), pool.len() as u64) as usize];
        let planted = plant(
            cut(&c.content, BIPIA_CONTENT_CHARS),
            &attack,
            split_bucket(&format!("bipia-position/{attack}"), 3),
        );
        let _ = category;
        // The same attack planted in further contexts and places (training only, in the
        // attack's own split): one planting per attack is too few to learn that an
        // instruction inside an email, table or code answer is the attack, not the content.
        for k in 0..BIPIA_EXTRA_PLANTINGS {
            let c = pool
                [split_bucket(&format!("bipia-context/{k}/{attack}"), pool.len() as u64) as usize];
            let text = plant(
                cut(&c.content, BIPIA_CONTENT_CHARS),
                &attack,
                split_bucket(&format!("bipia-position/{k}/{attack}"), 3),
            );
            planted_extra.push((
                format!("{}\n\n{text}", c.question),
                format!("bipia/{}/augmented", c.task),
                attack.clone(),
            ));
        }
        add(
            format!("{}\n\n{planted}", c.question),
            true,
            &format!("bipia/{}", c.task),
            Some(attack),
        );
    }
    let mut openings = Vec::new();
    for p in sources::jailbreak_llms_prompts(dir)? {
        // In-the-wild jailbreaks are long templates; an attack in a chat is often just their
        // set-up. The opening words of each long template are a training-only positive, in
        // the template's own split.
        let words: Vec<&str> = p.split_whitespace().collect();
        if words.len() > 2 * JAILBREAK_OPENING_WORDS {
            openings.push((words[..JAILBREAK_OPENING_WORDS].join(" "), p.clone()));
        }
        add(p, true, "jailbreak_llms", None);
    }
    for (lang, _variant, text) in sources::cyberseceval_injections(dir)? {
        let src = if lang == "English" {
            "cyberseceval/english"
        } else {
            "cyberseceval/translated"
        };
        add(text, true, src, None);
    }
    for r in sources::jailbreakbench(dir)? {
        if let Some(p) = r.prompt {
            add(p, true, &format!("jailbreakbench/{}", r.method), None);
        }
    }
    // Negatives.
    for (cat, p) in sources::notinject(dir)? {
        let _ = cat;
        add(p, false, "notinject", None);
    }
    for (p, _) in sources::xstest_prompts(dir)? {
        add(p, false, "xstest_prompts", None);
    }
    for q in sources::gsm8k(dir)? {
        // A sample keeps maths from outnumbering everything else.
        if split_bucket(&format!("sample/{q}"), 100) < 45 {
            add(q, false, "gsm8k", None);
        }
    }
    for q in sources::mmlu(dir)? {
        if split_bucket(&format!("sample/{q}"), 100) < 30 {
            add(q, false, "mmlu", None);
        }
    }
    for q in sources::truthfulqa_questions(dir)? {
        add(q, false, "truthfulqa", None);
    }
    for p in sources::cyberseceval_frr(dir)? {
        add(p, false, "cyberseceval/mitre_frr", None);
    }
    for c in &contexts {
        add(
            format!("{}\n\n{}", c.question, cut(&c.content, BIPIA_CONTENT_CHARS)),
            false,
            &format!("bipia/{}/clean", c.task),
            None,
        );
    }
    for (src, p) in sources::harmful_requests(dir)? {
        add(p, false, src, None);
    }
    for q in sources::forbidden_questions(dir)? {
        add(q, false, "jailbreak_llms/forbidden", None);
    }
    let mut goals: Vec<String> = sources::jailbreakbench(dir)?
        .into_iter()
        .map(|r| r.goal)
        .collect();
    goals.sort();
    goals.dedup();
    for g in goals {
        add(g, false, "jailbreakbench/goals", None);
    }
    for m in sources::conversational() {
        let key = conversational_key(&m);
        add(m, false, "emmental/conversational", Some(key));
    }
    for m in sources::own_content() {
        let key = conversational_key(&m);
        add(m, false, "emmental/own_content", Some(key));
    }
    for m in sources::everyday() {
        let key = conversational_key(&m);
        add(m, false, "emmental/everyday", Some(key));
    }
    for m in sources::attacks() {
        let key = conversational_key(&m);
        add(m, true, "emmental/attacks", Some(key));
    }
    let mut rows = dedupe(rows);
    // After deduplication, so a derived row never displaces a real one.
    let seen: std::collections::HashSet<String> = rows.iter().map(|r| r.text.clone()).collect();
    let mut seen = seen;
    for (text, source, attack) in planted_extra {
        if seen.insert(text.clone()) {
            rows.push(Row {
                text,
                prompt: None,
                positive: true,
                source,
                key: attack,
                note: None,
                baseline: None,
                train_only: true,
            });
        }
    }
    for (opening, parent) in openings {
        if !seen.contains(&opening) {
            rows.push(Row {
                text: opening,
                prompt: None,
                positive: true,
                source: "jailbreak_llms/opening".into(),
                key: parent,
                note: None,
                baseline: None,
                train_only: true,
            });
        }
    }
    Ok(rows)
}

/// The split key of a conversational message: its words, lower-cased, without punctuation
/// or emoji ("Hi!" and "hi :)" are one message); the text itself when it has no words.
pub fn conversational_key(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        text.trim().to_string()
    } else {
        words.join(" ")
    }
}

/// Keeps the first row of each text; drops texts that occur with both labels.
fn dedupe(rows: Vec<Row>) -> Vec<Row> {
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut labels: HashMap<String, (bool, bool)> = HashMap::new();
    for r in &rows {
        let e = labels.entry(norm(&r.text)).or_default();
        if r.positive {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .filter(|r| {
            let n = norm(&r.text);
            let (p, q) = labels[&n];
            !(p && q) && seen.insert(n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str, positive: bool) -> Row {
        Row {
            text: text.into(),
            prompt: None,
            positive,
            source: "t".into(),
            key: text.into(),
            note: None,
            baseline: None,
            train_only: false,
        }
    }

    #[test]
    fn long_answers_use_benign_text_of_the_same_split_and_fold() {
        // Held-out answers take starts from the held-out split; training answers from their
        // own cross-validation fold.
        let group = |key: &str| {
            let fold = split_bucket(&format!("fold/{key}"), super::super::pipeline::FOLDS);
            (is_heldout(key), if is_heldout(key) { 0 } else { fold })
        };
        let mut rows = Vec::new();
        for i in 0..200 {
            let key = format!("prompt {i}");
            rows.push(Row {
                text: format!("Helpful answer {i}. {}", "A harmless sentence. ".repeat(25)),
                prompt: Some(key.clone()),
                positive: false,
                source: "xstest/m/safe".into(),
                key: key.clone(),
                note: Some("1_full_compliance".into()),
                baseline: None,
                train_only: false,
            });
            rows.push(Row {
                text: format!("Harmful answer {i}."),
                prompt: Some(format!("unsafe {key}")),
                positive: true,
                source: "jailbreakbench/PAIR".into(),
                key,
                note: None,
                baseline: None,
                train_only: false,
            });
        }
        // A short compliant answer and a refusal never serve as starts (`starts` below leaves
        // them out).
        rows[0].text = "Too short to be a start.".into();
        rows[2].note = Some("2_full_refusal".into());
        let derived = long_answers(&rows);
        let late: Vec<&Row> = derived
            .iter()
            .filter(|d| d.source.starts_with(LATE_START))
            .collect();
        let off_topic: Vec<&Row> = derived
            .iter()
            .filter(|d| d.source.starts_with(OFF_TOPIC))
            .collect();
        assert_eq!(late.len(), rows.len(), "every answer once more");
        assert_eq!(off_topic.len(), 200, "one benign text per harmful answer");
        assert_eq!(late.len() + off_topic.len(), derived.len());
        let starts: Vec<&Row> = rows.iter().step_by(2).skip(2).collect();
        // Every piece of a benign text is a whole start answer from the answer's own split
        // and fold, and never the answer's own.
        let from_starts = |text: &str, r: &Row| {
            for piece in text.split("\n\n").filter(|p| !p.is_empty()) {
                let s = starts
                    .iter()
                    .find(|s| s.text.trim() == piece)
                    .unwrap_or_else(|| panic!("{piece:?} is not a start"));
                assert_ne!(s.key, r.key);
                assert_eq!(group(&s.key), group(&r.key));
            }
        };
        for (r, l) in rows.iter().zip(&late) {
            assert!(l.train_only && l.augmented());
            assert_eq!(l.source, format!("{LATE_START}{}", r.source));
            assert_eq!(
                (l.positive, &l.prompt, &l.key),
                (r.positive, &r.prompt, &r.key)
            );
            let start = l
                .text
                .strip_suffix(r.text.as_str())
                .expect("the answer comes last");
            assert!(start.chars().count() >= LATE_START_CHARS, "{start}");
            from_starts(start, r);
        }
        // The harmful answers' prompts, answered with benign text alone: benign.
        for (r, o) in rows.iter().filter(|r| r.positive).zip(&off_topic) {
            assert!(o.train_only && o.augmented() && !o.positive);
            assert_eq!(o.source, format!("{OFF_TOPIC}{}", r.source));
            assert_eq!((&o.prompt, &o.key), (&r.prompt, &r.key));
            assert!(!o.text.contains(&r.text));
            assert!(o.text.chars().count() >= LATE_START_CHARS + r.text.chars().count());
            from_starts(&o.text, r);
        }
    }

    #[test]
    fn dedupe_keeps_first_and_drops_conflicts() {
        let out = dedupe(vec![
            row("a  b", true),
            row("a b", true),
            row("c", true),
            row("c", false),
            row("d", false),
        ]);
        let texts: Vec<&str> = out.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["a  b", "d"]);
    }

    #[test]
    fn conversational_messages_are_keyed_by_their_words_and_distinct() {
        assert_eq!(conversational_key("Hi!"), conversational_key("hi :)"));
        assert_eq!(conversational_key("Ça va ?"), "ça va");
        assert_eq!(conversational_key("👋"), "👋");
        let mut keys = std::collections::HashMap::new();
        for m in sources::conversational()
            .into_iter()
            .chain(sources::own_content())
            .chain(sources::everyday())
            .chain(sources::attacks())
        {
            if let Some(other) = keys.insert(conversational_key(&m), m.clone()) {
                panic!("{m:?} and {other:?} are one message: keep one");
            }
        }
    }

    #[test]
    fn planting_puts_the_attack_where_asked() {
        let c = "one two three four";
        assert!(plant(c, "ATTACK", 0).starts_with("ATTACK\n"));
        assert!(plant(c, "ATTACK", 2).ends_with("\nATTACK"));
        let mid = plant(c, "ATTACK", 1);
        assert!(
            mid.contains("two ATTACK three") || mid.contains("three ATTACK four"),
            "{mid}"
        );
        assert_eq!(cut("héllo", 2), "hé");
        // The middle of a multi-byte text is found on a character boundary.
        assert!(plant("ééé ééé", "X", 1).contains(" X "));
    }
}
