//! What every match of a pattern must contain, worked out from its syntax tree: at least so many
//! ASCII digits, and at least so many of given ASCII bytes (the `@` of an e-mail address, the
//! three dots of an IPv4 address, the `AKIA` of an AWS key id).
//!
//! A text that lacks them cannot match, so a rule skips it after a count instead of a regex
//! pass. The regex engine finds literal prefixes itself, but not bytes inside a pattern, nor
//! counts of a class such as `[0-9]`. On a guard the saving is larger than the hot figures
//! say: each regex pass touches its pattern's own tables, and a proxy that waited for its
//! upstream meets them with cold caches.
//!
//! The bound is sound by construction: a concatenation needs the sum of its parts, an
//! alternation the least of its branches, a repetition its minimum count times its body, and
//! a class counts only when every character it allows is a digit, or when it allows exactly
//! one ASCII character.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Slots `0..128` count each ASCII byte other than a digit; slot 128 counts ASCII digits.
const DIGITS: usize = 128;
const SLOTS: usize = 129;

#[derive(Clone, Copy)]
struct Counts([u32; SLOTS]);

impl Counts {
    const ZERO: Counts = Counts([0; SLOTS]);

    fn of_byte(b: u8) -> Counts {
        let mut c = Counts::ZERO;
        c.bump(b);
        c
    }

    fn bump(&mut self, b: u8) {
        if b.is_ascii_digit() {
            self.0[DIGITS] = self.0[DIGITS].saturating_add(1);
        } else if b.is_ascii() {
            self.0[usize::from(b)] = self.0[usize::from(b)].saturating_add(1);
        }
    }

    fn plus(mut self, other: &Counts) -> Counts {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
        }
        self
    }

    fn times(mut self, n: u32) -> Counts {
        for a in &mut self.0 {
            *a = a.saturating_mul(n);
        }
        self
    }

    fn least(mut self, other: &Counts) -> Counts {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = (*a).min(b);
        }
        self
    }
}

/// The least of each slot over every match of `hir`.
fn least(hir: &Hir) -> Counts {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Counts::ZERO,
        HirKind::Literal(lit) => {
            let mut c = Counts::ZERO;
            for &b in lit.0.iter() {
                c.bump(b);
            }
            c
        }
        HirKind::Class(class) => class_count(class),
        HirKind::Repetition(r) => least(&r.sub).times(r.min),
        HirKind::Capture(c) => least(&c.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .fold(Counts::ZERO, |acc, h| acc.plus(&least(h))),
        HirKind::Alternation(branches) => branches
            .iter()
            .map(least)
            .reduce(|a, b| a.least(&b))
            .unwrap_or(Counts::ZERO),
    }
}

/// What one character of `class` is sure to be: a digit, one ASCII byte, or nothing known.
fn class_count(class: &Class) -> Counts {
    // Each class as inclusive ranges of code points (bytes for a byte class).
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
    };
    let digit = |x: u32| (u32::from(b'0')..=u32::from(b'9')).contains(&x);
    match ranges.as_slice() {
        [] => Counts::ZERO,
        [(a, b)] if a == b && *a < 128 => Counts::of_byte(*a as u8),
        rs if rs.iter().all(|&(a, b)| digit(a) && digit(b)) => Counts::of_byte(b'0'),
        _ => Counts::ZERO,
    }
}

/// What every match of a pattern contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// ASCII digits.
    pub digits: u32,
    /// ASCII bytes other than digits, with their least count, in byte order.
    pub bytes: Vec<(u8, u32)>,
    /// The longest a match can be, in bytes (`None`: unbounded). With a needed digit or byte,
    /// every match lies within this many bytes of one, which bounds where a search must look.
    pub max_len: Option<usize>,
}

impl Needs {
    /// The needs of `pattern`, parsed with the regex crate's defaults. A pattern that does not
    /// parse needs nothing (the regex built from it reports the error).
    pub fn of(pattern: &str) -> Needs {
        let Ok(hir) = regex_syntax::parse(pattern) else {
            return Needs::default();
        };
        let c = least(&hir);
        Needs {
            digits: c.0[DIGITS],
            bytes: (0..128u8)
                .filter(|&b| c.0[usize::from(b)] > 0)
                .map(|b| (b, c.0[usize::from(b)]))
                .collect(),
            max_len: hir.properties().maximum_len(),
        }
    }

    /// The bytes of `text` that can hold a match: every match holds a needed digit (or, for a
    /// pattern that needs none, its first needed byte) and is at most `max_len` bytes long, so
    /// it lies within `max_len` bytes of the first and last such byte. The whole text when the
    /// pattern needs neither or is unbounded. Both ends fall on character boundaries.
    pub fn search_range(&self, text: &str, counts: &TextCounts) -> std::ops::Range<usize> {
        let whole = 0..text.len();
        let Some(max) = self.max_len else {
            return whole;
        };
        let (first, last) = if self.digits > 0 {
            match counts.digit_range {
                Some(r) => r,
                None => return whole,
            }
        } else if let Some(&(b, _)) = self.bytes.first() {
            let bytes = text.as_bytes();
            match (
                bytes.iter().position(|&x| x == b),
                bytes.iter().rposition(|&x| x == b),
            ) {
                (Some(f), Some(l)) => (f, l),
                _ => return whole,
            }
        } else {
            return whole;
        };
        let mut start = first.saturating_sub(max);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = last.saturating_add(max).saturating_add(1).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }

    pub fn is_empty(&self) -> bool {
        self.digits == 0 && self.bytes.is_empty()
    }

    /// Whether a text with these counts may hold a match.
    pub fn met_by(&self, counts: &TextCounts) -> bool {
        counts.digits >= self.digits
            && self
                .bytes
                .iter()
                .all(|&(b, n)| counts.bytes[usize::from(b)] >= n)
    }
}

/// How often each byte occurs in a text: one pass, shared by every rule of a detector.
pub struct TextCounts {
    digits: u32,
    bytes: [u32; 256],
    /// The byte offsets of the first and the last ASCII digit.
    digit_range: Option<(usize, usize)>,
}

impl TextCounts {
    pub fn of(text: &str) -> TextCounts {
        let mut bytes = [0u32; 256];
        for &b in text.as_bytes() {
            bytes[usize::from(b)] += 1;
        }
        let digits = bytes[usize::from(b'0')..=usize::from(b'9')].iter().sum();
        let at = text.as_bytes();
        let digit_range = if digits > 0 {
            at.iter()
                .position(u8::is_ascii_digit)
                .zip(at.iter().rposition(u8::is_ascii_digit))
        } else {
            None
        };
        TextCounts {
            digits,
            bytes,
            digit_range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(p: &str) -> (u32, Vec<(char, u32)>) {
        let n = Needs::of(p);
        (
            n.digits,
            n.bytes.iter().map(|&(b, k)| (char::from(b), k)).collect(),
        )
    }

    #[test]
    fn sums_concatenations_and_multiplies_repetitions() {
        assert_eq!(needs(r"[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}"), (9, vec![]));
        assert_eq!(
            needs(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"),
            (4, vec![('.', 3)])
        );
        assert_eq!(needs(r"0x[0-9a-fA-F]{40}"), (1, vec![('x', 1)]));
        assert_eq!(needs(r"(?:ab){2,}c*"), (0, vec![('a', 2), ('b', 2)]));
    }

    #[test]
    fn an_alternation_needs_the_least_of_its_branches() {
        assert_eq!(needs(r"[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3}"), (9, vec![]));
        assert_eq!(needs(r"a@b|a@@"), (0, vec![('@', 1), ('a', 1)]));
        assert_eq!(needs(r"(?:x|)[0-9]"), (1, vec![]));
    }

    #[test]
    fn only_sure_characters_count() {
        // A class of letters and digits, a case-insensitive letter, an optional part and a
        // look-around promise nothing.
        assert_eq!(needs(r"[a-z0-9]{5}"), (0, vec![]));
        assert_eq!(needs(r"(?i)k"), (0, vec![]));
        assert_eq!(needs(r"(?:@[0-9])?\b"), (0, vec![]));
        // Unicode `\d` allows other scripts' digits, which an ASCII count would miss.
        assert_eq!(needs(r"\d{4}"), (0, vec![]));
        // A case-insensitive digit or symbol is still itself.
        assert_eq!(needs(r"(?i-u:sk-[0-9])"), (1, vec![('-', 1)]));
        // Non-ASCII literals are not counted.
        assert_eq!(needs("é@"), (0, vec![('@', 1)]));
    }

    #[test]
    fn the_email_pattern_needs_its_at_sign_and_a_dot() {
        let p = r"[\p{L}\p{N}._%+\-]+@(?:[\p{L}\p{N}](?:[\p{L}\p{N}\-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,24}";
        assert_eq!(needs(p), (0, vec![('.', 1), ('@', 1)]));
    }

    #[test]
    fn a_text_meets_the_needs_only_with_enough_of_each() {
        let n = Needs::of(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}");
        let of = TextCounts::of;
        assert!(n.met_by(&of("host 10.0.0.1")));
        // A necessary condition, not a sufficient one: the regex still decides.
        assert!(n.met_by(&of("v1.2.3 and 4.")), "three dots, four digits");
        assert!(!n.met_by(&of("1.2.3")), "two dots");
        assert!(!n.met_by(&of("a.b.c.d 12")), "two digits");
    }
}
