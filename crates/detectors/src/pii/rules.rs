//! The machinery shared by the rule-based recognizers: a regex proposes candidates, a check
//! validates each one (checksum, ranges, shape) and gives its score, and the rule's context
//! words adjust that score.

use regex::Regex;

use super::context::Context;
use crate::{DetectorError, Recognizer, Span};

/// A candidate the regex found: bytes `start..end` of `text`.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'t> {
    pub text: &'t str,
    pub start: usize,
    pub end: usize,
}

impl<'t> Hit<'t> {
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
    /// A byte every match contains: a text without it is skipped without running the regex.
    needs: Option<u8>,
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
            needs: None,
        }
    }

    /// Skips texts without `byte`, which every match of the pattern contains (the `@` of an
    /// e-mail address): a `memchr` instead of a regex pass, for a pattern whose size keeps the
    /// regex engine from finding that literal itself.
    pub fn needs(mut self, byte: u8) -> Self {
        self.needs = Some(byte);
        self
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

    /// Every candidate this rule accepts in `text`, with its score after context.
    pub fn find(&self, text: &str, out: &mut Vec<Span>) {
        if self.needs.is_some_and(|b| !text.as_bytes().contains(&b)) {
            return;
        }
        if self.group {
            for c in self.regex.captures_iter(text) {
                if let Some(m) = c.get(1) {
                    self.apply(
                        text,
                        Hit {
                            text,
                            start: m.start(),
                            end: m.end(),
                        },
                        out,
                    );
                }
            }
        } else {
            for m in self.regex.find_iter(text) {
                self.apply(
                    text,
                    Hit {
                        text,
                        start: m.start(),
                        end: m.end(),
                    },
                    out,
                );
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
        let mut out = Vec::new();
        for r in &self.rules {
            r.find(text, &mut out);
        }
        Ok(out)
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
    fn a_rule_that_needs_a_byte_skips_texts_without_it() {
        static NONE: Context = Context {
            raise: &[],
            lower: &[],
            boost: 0.0,
        };
        let rule = Rule::new("X", r"[a-z]+@?", |h| Found::at(h, 0.5), &NONE).needs(b'@');
        let mut out = Vec::new();
        rule.find("abc def", &mut out);
        assert!(out.is_empty());
        rule.find("abc d@", &mut out);
        assert_eq!(out.len(), 2, "with the byte present, every match counts");
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
