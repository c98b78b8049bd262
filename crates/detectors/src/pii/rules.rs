//! The machinery shared by the rule-based recognizers: a regex proposes candidates, a check
//! validates each one (checksum, ranges, shape) and gives its score, and the rule's context
//! words adjust that score.

use regex::Regex;

use super::context::Context;
use super::needs::{Needs, TextCounts};
use crate::{DetectorError, Recognizer, Span};

/// A candidate the regex found: bytes `start..end` of `text`.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'t> {
    pub text: &'t str,
    pub start: usize,
    pub end: usize,
}

impl<'t> Hit<'t> {
    /// The candidate a regex match in `text` (or in a prefix of it) stands for.
    fn of(text: &'t str, m: &regex::Match<'_>) -> Hit<'t> {
        Hit {
            text,
            start: m.start(),
            end: m.end(),
        }
    }
    pub fn value(&self) -> &'t str {
        &self.text[self.start..self.end]
    }
    /// The character just before the candidate.
    pub fn before(&self) -> Option<char> {
        self.text[..self.start].chars().next_back()
    }
    /// The character just after the candidate.
    pub fn after(&self) -> Option<char> {
        self.text[self.end..].chars().next()
    }
    /// The two characters before the candidate, nearest first.
    pub fn before2(&self) -> (Option<char>, Option<char>) {
        let mut it = self.text[..self.start].chars().rev();
        (it.next(), it.next())
    }
    /// The two characters after the candidate, nearest first.
    pub fn after2(&self) -> (Option<char>, Option<char>) {
        let mut it = self.text[self.end..].chars();
        (it.next(), it.next())
    }
    /// Not glued to a letter, digit or underscore on either side.
    pub fn word_bounded(&self) -> bool {
        !glued(self.before()) && !glued(self.after())
    }
    /// Word-bounded, and not part of a longer number such as `1.192.168.0.1` or `12-345-6789-0`
    /// (a separator with a digit behind it on either side).
    pub fn number_bounded(&self) -> bool {
        self.number_bounded_left() && self.number_bounded_right()
    }
    pub fn number_bounded_left(&self) -> bool {
        let (b1, b2) = self.before2();
        !(glued(b1) || (is_sep(b1) && is_digit(b2)))
    }
    pub fn number_bounded_right(&self) -> bool {
        let (a1, a2) = self.after2();
        !(glued(a1) || (is_sep(a1) && is_digit(a2)))
    }
    /// The same text with other bounds.
    pub fn with(&self, start: usize, end: usize) -> Hit<'t> {
        Hit {
            text: self.text,
            start,
            end,
        }
    }
}

fn glued(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}
fn is_sep(c: Option<char>) -> bool {
    matches!(c, Some('.' | '-' | '/' | ',' | ':'))
}
fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// What a check accepts: the span to report (possibly narrower than the regex match) and its
/// score before context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub score: f32,
    /// The score stands whatever the context says (documentation examples).
    pub pinned: bool,
}

/// The score of documentation examples (`someone@example.com`, the test card
/// `4111 1111 1111 1111`): reported at the default threshold, so that a guard tested with them
/// fires, while a stricter threshold (an evaluation counting real leaks) drops them.
pub const EXAMPLE_SCORE: f32 = 0.5;

impl Found {
    pub fn at(hit: &Hit<'_>, score: f32) -> Option<Found> {
        Some(Found {
            start: hit.start,
            end: hit.end,
            score,
            pinned: false,
        })
    }

    /// A documentation example: found, at [`EXAMPLE_SCORE`], context ignored.
    pub fn example(hit: &Hit<'_>) -> Option<Found> {
        Some(Found {
            start: hit.start,
            end: hit.end,
            score: EXAMPLE_SCORE,
            pinned: true,
        })
    }
}

/// Validates a candidate; `None` rejects it.
pub type Check = fn(&Hit<'_>) -> Option<Found>;

/// One pattern of a recognizer.
pub struct Rule {
    pub kind: &'static str,
    regex: Regex,
    /// The candidate is capture group 1 rather than the whole match.
    group: bool,
    check: Check,
    context: &'static Context,
    /// What every match contains: a text without it is skipped without running the regex.
    needs: Needs,
}

impl Rule {
    /// A rule; `pattern` is a constant of this crate, so a bad one is a programming error
    /// caught by the tests of every recognizer.
    pub fn new(kind: &'static str, pattern: &str, check: Check, context: &'static Context) -> Self {
        let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("bad {kind} pattern: {e}"));
        let group = regex.captures_len() > 1;
        Self {
            kind,
            regex,
            group,
            check,
            context,
            needs: Needs::of(pattern),
        }
    }

    /// What every match of the rule's pattern contains.
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    fn apply(&self, text: &str, hit: Hit<'_>, out: &mut Vec<Span>) {
        if let Some(f) = (self.check)(&hit) {
            let score = if f.pinned {
                f.score
            } else {
                self.context.adjust(text, f.start, f.end, f.score)
            };
            if f.end > f.start {
                out.push(Span::from_bytes(text, f.start, f.end, self.kind, score));
            }
        }
    }

    /// Every candidate this rule accepts in `text`, with its score after context. (A
    /// [`RuleRecognizer`] first skips the rules whose [`Needs`] the text does not meet.)
    pub fn find(&self, text: &str, out: &mut Vec<Span>) {
        self.find_counted(text, &TextCounts::of(text), out);
    }

    /// [`Rule::find`] with the text's counts taken already. The regex runs only over the parts
    /// of the text its needs allow ([`Needs::search_ranges`]), which for a number rule are a
    /// few dozen bytes around each run of digits. It finds what a search of the whole text
    /// finds:
    /// - every match lies inside one range;
    /// - look-behind assertions (`\b` at a match's start) see the text before the range,
    ///   because the search starts there rather than on a slice;
    /// - the slice searched ends at the range's end, which is past the end of every match that
    ///   starts in the range, so no match ends at the slice's end, and a look-ahead at a
    ///   match's end (one character) reads the real text.
    fn find_counted(&self, text: &str, counts: &TextCounts, out: &mut Vec<Span>) {
        let ranges = self.needs.search_ranges(text, counts);
        if let [only] = ranges.as_slice()
            && only.start == 0
            && only.end == text.len()
        {
            self.find_whole(text, out);
            return;
        }
        for range in ranges {
            self.find_in(text, range, out);
        }
    }

    /// The matches that start in `range`, one of [`Needs::search_ranges`].
    fn find_in(&self, text: &str, range: std::ops::Range<usize>, out: &mut Vec<Span>) {
        let hit = |m: regex::Match<'_>| Hit::of(text, &m);
        // A bounded range comes only from a needed digit or byte, so no match is empty and
        // each search goes on from the last match's end, as `find_iter` does.
        let hay = &text[..range.end];
        let mut at = range.start;
        while at < hay.len() {
            let whole = if self.group {
                let Some(c) = self.regex.captures_at(hay, at) else {
                    break;
                };
                if let Some(m) = c.get(1) {
                    self.apply(text, hit(m), out);
                }
                c.get(0).map(|m| (m.start(), m.end()))
            } else {
                let Some(m) = self.regex.find_at(hay, at) else {
                    break;
                };
                self.apply(text, hit(m), out);
                Some((m.start(), m.end()))
            };
            match whole {
                Some((s, e)) if e > s => at = e,
                _ => break,
            }
        }
    }

    /// [`Rule::find`] over the whole text, whatever its needs.
    fn find_whole(&self, text: &str, out: &mut Vec<Span>) {
        let hit = |m: regex::Match<'_>| Hit::of(text, &m);
        if self.group {
            for c in self.regex.captures_iter(text) {
                if let Some(m) = c.get(1) {
                    self.apply(text, hit(m), out);
                }
            }
        } else {
            for m in self.regex.find_iter(text) {
                self.apply(text, hit(m), out);
            }
        }
    }
}

/// A recognizer made of rules; every recognizer family of [`super`] is one.
pub struct RuleRecognizer {
    id: &'static str,
    rules: Vec<Rule>,
}

impl RuleRecognizer {
    pub fn new(id: &'static str, rules: Vec<Rule>) -> Self {
        Self { id, rules }
    }
}

impl Recognizer for RuleRecognizer {
    fn id(&self) -> &str {
        self.id
    }

    fn types(&self) -> Vec<String> {
        let mut t: Vec<String> = self.rules.iter().map(|r| r.kind.to_string()).collect();
        t.dedup();
        t
    }

    fn recognize(&self, text: &str) -> Result<Vec<Span>, DetectorError> {
        self.recognize_counted(text, &TextCounts::of(text))
    }

    fn recognize_counted(
        &self,
        text: &str,
        counts: &TextCounts,
    ) -> Result<Vec<Span>, DetectorError> {
        let mut out = Vec::new();
        for r in self.rules.iter().filter(|r| r.needs.met_by(counts)) {
            r.find_counted(text, counts, &mut out);
        }
        Ok(out)
    }

    fn recognize_batch_counted(
        &self,
        texts: &[&str],
        counts: &[TextCounts],
    ) -> Result<Vec<Vec<Span>>, DetectorError> {
        texts
            .iter()
            .zip(counts)
            .map(|(t, c)| self.recognize_counted(t, c))
            .collect()
    }
}

/// Splits a run like `4454 7945 1139 0933` into its digit groups: byte ranges of the digits.
pub fn digit_groups(s: &str, offset: usize) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut start = None;
    for (i, b) in s.bytes().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                groups.push((offset + st, offset + i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        groups.push((offset + st, offset + s.len()));
    }
    groups
}

/// The ASCII digits of `s` as numbers (other characters skipped).
pub fn digits_of(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The number formed by ASCII digits (other characters skipped); saturates on overflow.
pub fn number(s: &str) -> u64 {
    s.bytes().filter(u8::is_ascii_digit).fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_reject_glued_and_longer_numbers() {
        let t = "ip 1.192.168.0.1 and x192.168.0.1 and 192.168.0.1.";
        let h = |s: &str| {
            let i = t.find(s).unwrap();
            Hit {
                text: t,
                start: i + s.len() - 11,
                end: i + s.len(),
            }
        };
        assert!(!h("1.192.168.0.1").number_bounded());
        assert!(!h("x192.168.0.1").number_bounded());
        let last = t.rfind("192").unwrap();
        assert!(
            Hit {
                text: t,
                start: last,
                end: last + 11
            }
            .number_bounded()
        );
    }

    #[test]
    fn a_recognizer_skips_the_rules_a_text_cannot_match() {
        static NONE: Context = Context {
            raise: &[],
            lower: &[],
            boost: 0.0,
        };
        let ssn = || {
            Rule::new(
                "SSN",
                r"[0-9]{3}-[0-9]{2}-[0-9]{4}",
                |h| Found::at(h, 0.5),
                &NONE,
            )
        };
        let at = || Rule::new("AT", r"[a-z]+@[a-z]+", |h| Found::at(h, 0.5), &NONE);
        assert_eq!(ssn().needs().digits, 9);
        assert_eq!(ssn().needs().bytes, vec![(b'-', 2)]);
        let r = RuleRecognizer::new("t", vec![ssn(), at()]);
        // The regex finds what it finds whenever the needs are met...
        let kinds = |t: &str| -> Vec<String> {
            r.recognize(t)
                .unwrap()
                .into_iter()
                .map(|s| s.kind)
                .collect()
        };
        assert_eq!(kinds("123-45-6789 and a@b"), ["SSN", "AT"]);
        // ...and a text that lacks them gets nothing, as the regex alone would give.
        assert!(kinds("123-45-678 a-b").is_empty());
        // Bytes anywhere in the text count: the needs are a filter, not a match.
        assert!(kinds("12345 6789 -- x").is_empty());
    }

    /// Every match of every rule of `pii.rules` and of the secrets' formats, on the project's
    /// PII and secrets cases and on generated digit runs, holds what the rule's needs say. The
    /// needs are a proof from the syntax tree; this checks the proof's code on real patterns.
    #[test]
    fn every_match_of_the_shipped_rules_meets_its_needs() {
        let mut texts: Vec<String> = Vec::new();
        for file in ["pii_structured", "pii_blind", "secrets_cases"] {
            let path = format!("{}/testdata/{file}.jsonl", env!("CARGO_MANIFEST_DIR"));
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                texts.push(v["text"].as_str().unwrap().to_string());
            }
        }
        // Digits with every separator the patterns allow, in many lengths.
        for n in 1..40 {
            for sep in ["", " ", "-", ".", "/", ":"] {
                let digits: Vec<String> = (0..n).map(|i| ((i * 7 + 3) % 10).to_string()).collect();
                texts.push(format!("id {} x", digits.join(sep)));
            }
        }
        let (mut checked, mut with_needs) = (0, 0);
        let sets: Vec<RuleRecognizer> = super::super::rule_sets()
            .into_iter()
            .chain([crate::secrets::formats::known_formats()])
            .collect();
        for set in &sets {
            for rule in &set.rules {
                for t in &texts {
                    for m in rule.regex.find_iter(t) {
                        let counts = TextCounts::of(m.as_str());
                        assert!(
                            rule.needs.met_by(&counts),
                            "{} `{}` matched {:?} in {t:?}, below its needs {:?}",
                            set.id,
                            rule.kind,
                            m.as_str(),
                            rule.needs
                        );
                        checked += 1;
                        with_needs += usize::from(!rule.needs.is_empty());
                    }
                }
            }
        }
        assert!(
            checked > 1000 && with_needs > 500,
            "{checked} matches, {with_needs} with needs"
        );
    }

    /// A rule searched only over the range its needs allow finds exactly what a search of
    /// the whole text finds, for every shipped rule, on the project's cases, on digit runs
    /// placed at the start, middle and end of prose, and on multi-byte text around them.
    #[test]
    fn a_bounded_search_finds_what_the_whole_search_finds() {
        let mut texts = Vec::new();
        for file in ["pii_structured", "pii_blind", "secrets_cases"] {
            let path = format!("{}/testdata/{file}.jsonl", env!("CARGO_MANIFEST_DIR"));
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                texts.push(v["text"].as_str().unwrap().to_string());
            }
        }
        let prose = "Please call me about the order I placed, thanks. ";
        let values = [
            "1047291234",
            "+44 20 7946 0958",
            "4526 0181 5908 3012",
            "078-05-1120",
            "192.168.0.1",
            "DE62 3704 0044 0532 0130 01",
            "born 12/03/1987",
            "aged 42",
            "a@b.example.com",
            "AB123456C",
            "x1234y",
            "é1234ü",
            "in 1987",
            "founded in\n\n  1987",
            "zip code 90210",
            "+1 (555) 010-0199 ext. 42",
            "passport number: 123456789",
            "3 of them, 4526 0181 5908 3012",
        ];
        for v in values {
            for (a, b) in [
                ("", prose),
                (prose, prose),
                (prose, ""),
                ("Tél. ", " ☎ fin"),
                ("Room 7: ", " (see page 12)"),
                ("Case 4821: ", " and more prose after it (ticket 90210-7)"),
                (
                    "1 a@b.c 2 ",
                    " 5 plenty of words between the numbers here, 12 3456 789, x@y.org 6",
                ),
            ] {
                texts.push(format!("{a}{v}{b}"));
                texts.push(format!("{a}{v} and {v}{b}"));
            }
        }
        let sets: Vec<RuleRecognizer> = super::super::rule_sets()
            .into_iter()
            .chain([crate::secrets::formats::known_formats()])
            .collect();
        let (mut bounded, mut found) = (0, 0);
        for set in &sets {
            for rule in &set.rules {
                for t in &texts {
                    let counts = TextCounts::of(t);
                    if !rule.needs.met_by(&counts) {
                        continue;
                    }
                    let (mut fast, mut whole) = (Vec::new(), Vec::new());
                    rule.find_counted(t, &counts, &mut fast);
                    rule.find_whole(t, &mut whole);
                    assert_eq!(fast, whole, "{} `{}` on {t:?}", set.id, rule.kind);
                    let searched: usize = rule
                        .needs
                        .search_ranges(t, &counts)
                        .iter()
                        .map(|r| r.len())
                        .sum();
                    bounded += usize::from(searched < t.len());
                    found += fast.len();
                }
            }
        }
        assert!(
            bounded > 1000 && found > 300,
            "{bounded} bounded searches, {found} spans"
        );
    }

    #[test]
    fn digit_groups_and_numbers() {
        assert_eq!(
            digit_groups("12 345-6", 10),
            vec![(10, 12), (13, 16), (17, 18)]
        );
        assert_eq!(digits_of("1-2 3"), vec![1, 2, 3]);
        assert_eq!(number("0042"), 42);
        assert_eq!(number("99999999999999999999999"), u64::MAX);
    }
}
