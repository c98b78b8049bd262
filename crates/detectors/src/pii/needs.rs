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
//!
//! A text that has them may still hold them in only a small part: a question whose one number
//! is at its end. [`Needs::search_ranges`] then narrows the regex pass to the bytes a match
//! could cover, from how long a match can be and how far its bytes can reach from its digits
//! (`digit_reach`: the most bytes before a match's first digit and after its last, worked out
//! the same way from the syntax tree).

use std::ops::Range;

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
    let ranges = class_ranges(class);
    let digit = |x: u32| (u32::from(b'0')..=u32::from(b'9')).contains(&x);
    match ranges.as_slice() {
        [] => Counts::ZERO,
        [(a, b)] if a == b && *a < 128 => Counts::of_byte(*a as u8),
        rs if rs.iter().all(|&(a, b)| digit(a) && digit(b)) => Counts::of_byte(b'0'),
        _ => Counts::ZERO,
    }
}

/// A length bound in bytes; `None` is unbounded.
type Bound = Option<usize>;

fn plus(a: Bound, b: Bound) -> Bound {
    a.zip(b).map(|(a, b)| a.saturating_add(b))
}

fn most(a: Bound, b: Bound) -> Bound {
    a.zip(b).map(|(a, b)| a.max(b))
}

/// `a` taken up to `n` times (`n` unbounded: `None`).
fn times(a: Bound, n: Option<u32>) -> Bound {
    match (a, n) {
        (Some(0), _) => Some(0),
        (Some(a), Some(n)) => Some(a.saturating_mul(n as usize)),
        _ => None,
    }
}

/// Two optional facts joined with `join`; when one is missing, the other.
fn either<T>(a: Option<T>, b: Option<T>, join: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(join(a, b)),
        (a, b) => a.or(b),
    }
}

/// Where ASCII digits sit in the matches of a pattern.
#[derive(Clone, Copy)]
struct Shape {
    /// For the matches holding a digit: the most bytes before the first digit and after the
    /// last. `None`: no match holds one.
    digit: Option<(Bound, Bound)>,
    /// The longest match holding no digit. `None`: every match holds one.
    free: Option<Bound>,
}

impl Shape {
    const EMPTY: Shape = Shape {
        digit: None,
        free: Some(Some(0)),
    };

    /// `a` followed by `b`. A match with a digit has its first digit in `a`'s part, or in
    /// `b`'s after a digit-free `a` part; its last digit in `b`'s, or in `a`'s before a
    /// digit-free `b` part.
    fn then(a: Shape, b: Shape) -> Shape {
        let first_in_a = a.digit.and_then(|(lead, trail)| {
            let trail = either(b.digit.map(|d| d.1), b.free.map(|fb| plus(trail, fb)), most)?;
            Some((lead, trail))
        });
        let first_in_b = a
            .free
            .zip(b.digit)
            .map(|(fa, (lead, trail))| (plus(fa, lead), trail));
        Shape {
            digit: either(first_in_a, first_in_b, |x, y| {
                (most(x.0, y.0), most(x.1, y.1))
            }),
            free: a.free.zip(b.free).map(|(x, y)| plus(x, y)),
        }
    }

    fn or(a: Shape, b: Shape) -> Shape {
        Shape {
            digit: either(a.digit, b.digit, |x, y| (most(x.0, y.0), most(x.1, y.1))),
            free: either(a.free, b.free, most),
        }
    }
}

fn shape(hir: &Hir) -> Shape {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Shape::EMPTY,
        HirKind::Literal(lit) => {
            let bytes = &lit.0;
            match (
                bytes.iter().position(u8::is_ascii_digit),
                bytes.iter().rposition(u8::is_ascii_digit),
            ) {
                (Some(first), Some(last)) => Shape {
                    digit: Some((Some(first), Some(bytes.len() - 1 - last))),
                    free: None,
                },
                _ => Shape {
                    digit: None,
                    free: Some(Some(bytes.len())),
                },
            }
        }
        HirKind::Class(class) => {
            let ranges = class_ranges(class);
            let digit = |x: u32| (u32::from(b'0')..=u32::from(b'9')).contains(&x);
            let has_digit = ranges
                .iter()
                .any(|&(a, b)| a <= u32::from(b'9') && b >= u32::from(b'0'));
            let only_digits =
                !ranges.is_empty() && ranges.iter().all(|&(a, b)| digit(a) && digit(b));
            Shape {
                digit: has_digit.then_some((Some(0), Some(0))),
                free: (!ranges.is_empty() && !only_digits).then(|| hir.properties().maximum_len()),
            }
        }
        HirKind::Capture(c) => shape(&c.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .fold(Shape::EMPTY, |acc, h| Shape::then(acc, shape(h))),
        HirKind::Alternation(branches) => {
            branches
                .iter()
                .map(shape)
                .reduce(Shape::or)
                .unwrap_or(Shape {
                    digit: None,
                    free: None,
                })
        }
        HirKind::Repetition(r) => {
            let x = shape(&r.sub);
            // Copies with no digit, all of them, or none (zero copies).
            let free = match x.free {
                Some(fx) => Some(times(fx, r.max)),
                None if r.min == 0 => Some(Some(0)),
                None => None,
            };
            // Before the first copy with a digit come at most max - 1 digit-free copies (and
            // after the last, as many).
            let digit = x.digit.filter(|_| r.max != Some(0)).map(|(lead, trail)| {
                let others = x
                    .free
                    .map_or(Some(0), |fx| times(fx, r.max.map(|m| m.saturating_sub(1))));
                (plus(lead, others), plus(trail, others))
            });
            Shape { digit, free }
        }
    }
}

/// Each class as inclusive ranges of code points (bytes for a byte class).
fn class_ranges(class: &Class) -> Vec<(u32, u32)> {
    match class {
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
    /// For a pattern that needs a digit: the most bytes a match can have before its first
    /// ASCII digit and after its last (`None`: unbounded). Tighter than `max_len`, and
    /// bounded on one side for patterns such as `in\s+([0-9]{4})`.
    pub digit_reach: (Option<usize>, Option<usize>),
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
            digit_reach: shape(&hir).digit.unwrap_or((None, None)),
        }
    }

    /// The parts of `text` that can hold a match, in order and apart, each on character
    /// boundaries; none when the text cannot hold one. A match of a pattern that needs a digit
    /// lies within `digit_reach` (and `max_len`) bytes of its own first and last digits, so a
    /// pattern of bounded length is searched only around each run of digits; one that needs no
    /// digit but a byte, only around each occurrence of the rarest byte it needs. Windows that
    /// overlap are joined, and a joined window that holds fewer of the needed digits (or of that
    /// byte) than every match does is dropped. Each window ends past the end of every match
    /// that starts in it (so a search of a slice ending there sees, after any match, the
    /// text's own next character). The whole text when nothing bounds it.
    ///
    /// One window per run rather than one from the first digit to the last: a prompt with a
    /// number at each end then costs each rule two short searches instead of a pass over the
    /// whole text, and on a guard whose caches went cold while it waited for the upstream,
    /// every byte a pattern's automaton reads is a memory access.
    pub fn search_ranges(&self, text: &str, counts: &TextCounts) -> Vec<Range<usize>> {
        #[allow(clippy::single_range_in_vec_init)] // One range: the whole text.
        let whole = || vec![0..text.len()];
        let tighter = |a: Option<usize>, b: Option<usize>| either(a, b, usize::min);
        let bytes = text.as_bytes();
        if self.digits > 0 {
            let (Some(first), Some(last)) = (counts.digit_runs.first(), counts.digit_runs.last())
            else {
                return Vec::new();
            };
            // A digit is one byte of the match, so the rest of it is at most max_len - 1.
            let rest = self.max_len.map(|m| m.saturating_sub(1));
            let lead = tighter(self.digit_reach.0, rest);
            let trail = tighter(self.digit_reach.1, rest);
            // Past every match's end: its last digit (at most the text's last), its trail, and
            // one byte more for the character after it.
            let cap = trail.map_or(text.len(), |t| {
                (last.1 - 1).saturating_add(t).saturating_add(2)
            });
            let Some(m) = self.max_len else {
                // Unbounded: one window from the first digit's reach to the last's.
                let start = lead.map_or(0, |l| first.0.saturating_sub(l));
                return windows(text, [(start, cap)], self.digits, |b| b.is_ascii_digit());
            };
            let lead = lead.unwrap_or(m);
            // A match whose first digit is in a run starts at most `lead` bytes before the
            // run and ends at most `m` bytes after the run's last digit begins, which is one
            // byte before the run's end; one byte more for the character after it.
            let around = counts
                .digit_runs
                .iter()
                .map(|&(a, b)| (a.saturating_sub(lead), (b + m).min(cap)));
            windows(text, around, self.digits, |b| b.is_ascii_digit())
        } else if let Some(&(b, n)) = self
            .bytes
            .iter()
            .min_by_key(|&&(b, _)| counts.bytes[usize::from(b)])
        {
            let Some(m) = self.max_len else {
                return windows(text, [(0, text.len())], n, |x| x == b);
            };
            let around = bytes
                .iter()
                .enumerate()
                .filter(|&(_, &x)| x == b)
                .map(|(p, _)| (p.saturating_sub(m.saturating_sub(1)), p + 1 + m));
            windows(text, around, n, |x| x == b)
        } else {
            whole()
        }
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

/// Byte windows `(start, end)` of `text`, in order of their starts (and of their ends), as
/// search ranges: cut to the text, widened to character boundaries, overlapping ones joined, and
/// a joined one dropped when it holds fewer than `need` bytes that are `needed`.
fn windows(
    text: &str,
    raw: impl IntoIterator<Item = (usize, usize)>,
    need: u32,
    needed: impl Fn(u8) -> bool,
) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let keep = |out: &mut Vec<Range<usize>>, w: Range<usize>| {
        let held = text.as_bytes()[w.clone()]
            .iter()
            .filter(|&&b| needed(b))
            .count();
        if held >= need as usize {
            out.push(w);
        }
    };
    let mut open: Option<Range<usize>> = None;
    for (start, end) in raw {
        let mut start = start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        open = match open {
            Some(w) if start <= w.end => Some(w.start..w.end.max(end)),
            Some(w) => {
                keep(&mut out, w);
                Some(start..end)
            }
            None => Some(start..end),
        };
    }
    if let Some(w) = open {
        keep(&mut out, w);
    }
    out
}

/// How often each byte occurs in a text, and where its digits are: one pass, shared by every
/// rule of a detector.
pub struct TextCounts {
    digits: u32,
    bytes: [u32; 256],
    /// The runs of ASCII digits, as byte ranges `(start, end)`, in order.
    digit_runs: Vec<(usize, usize)>,
}

impl TextCounts {
    pub fn of(text: &str) -> TextCounts {
        let mut bytes = [0u32; 256];
        for &b in text.as_bytes() {
            bytes[usize::from(b)] += 1;
        }
        let digits = bytes[usize::from(b'0')..=usize::from(b'9')].iter().sum();
        let digit_runs = if digits > 0 {
            super::rules::digit_groups(text, 0)
        } else {
            Vec::new()
        };
        TextCounts {
            digits,
            bytes,
            digit_runs,
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
    fn digit_reach_bounds_the_bytes_around_a_match_s_digits() {
        let reach = |p: &str| Needs::of(p).digit_reach;
        assert_eq!(reach(r"[0-9]{3}-[0-9]{2}-[0-9]{4}"), (Some(0), Some(0)));
        // The shipped phone pattern: up to `+(` before the first digit, and an extension
        // always ends in digits.
        assert_eq!(
            reach(
                r"\+?\(?[0-9][0-9 .\-()/]{4,24}[0-9](?:[ ]?(?:x|ext\.?|extension|#)[ ]?[0-9]{1,6})?"
            ),
            (Some(2), Some(0))
        );
        // Unbounded on one side only.
        assert_eq!(
            reach(r"(?i-u:\b(?:in|since)\s+)([0-9]{4})"),
            (None, Some(0))
        );
        assert_eq!(reach(r"a[0-9]b+"), (Some(1), None));
        // Unbounded length, but digits at both ends.
        assert_eq!(reach(r"[0-9]{2}(?:[ \-]?[0-9]){10,}"), (Some(0), Some(0)));
        // Digit-free copies may come first.
        assert_eq!(reach(r"(?:ab|1)+"), (None, None));
        assert_eq!(reach(r"(?:ab|1){1,3}"), (Some(4), Some(4)));
        assert_eq!(reach(r"x?[0-9]|y{3}[0-9]z"), (Some(3), Some(1)));
        // A class that holds digits and letters: a match may have no digit, so nothing is
        // needed, and a match with one has it anywhere in its two characters.
        assert_eq!(reach(r"[a-z0-9]{2}"), (Some(1), Some(1)));
        assert_eq!(Needs::of(r"[a-z0-9]{2}").digits, 0);
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

    #[test]
    fn each_run_of_digits_gets_its_own_window() {
        let text = format!("Case 12: {} (ticket 345)", "word ".repeat(40));
        let counts = TextCounts::of(&text);
        // At most 8 bytes, at least one digit: a few bytes around each number.
        let ranges = Needs::of(r"\b[0-9]{1,3}-?[0-9]{0,4}\b").search_ranges(&text, &counts);
        assert_eq!(ranges.len(), 2, "{ranges:?}");
        assert!(ranges[0].start <= 5 && ranges[0].end < 30, "{ranges:?}");
        let ticket = text.find("345").unwrap();
        assert!(
            ranges[1].start <= ticket && ranges[1].end >= ticket + 4,
            "{ranges:?}"
        );
        assert!(ranges[1].start > ticket - 10, "{ranges:?}");
        // Three digits at least: the window around "12" cannot hold a match.
        let three = Needs::of(r"[0-9]{3}").search_ranges(&text, &counts);
        assert_eq!(three.len(), 1, "{three:?}");
        assert!(three[0].contains(&ticket), "{three:?}");
        // Windows that overlap are one.
        let card = "pay 4526 0181 5908 3012 now";
        let one = Needs::of(r"(?:[0-9]{4} ?){4}").search_ranges(card, &TextCounts::of(card));
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(one[0].start <= 4 && one[0].end >= 23, "{one:?}");
        // No digit, no window; unbounded length, one window over the digits' reach.
        assert!(
            Needs::of("[0-9]+")
                .search_ranges("none", &TextCounts::of("none"))
                .is_empty()
        );
        let spread = "a 1 b 2 c";
        assert_eq!(
            Needs::of("[0-9][0-9 a-z]*").search_ranges(spread, &TextCounts::of(spread)),
            vec![2..spread.len()]
        );
    }

    #[test]
    fn a_pattern_without_digits_is_searched_around_its_rarest_byte() {
        let text = format!("mail a@b.example.com. {}", "Sentence. ".repeat(30));
        let needs = Needs::of(r"[a-z]{1,5}@[a-z]{1,5}(?:\.[a-z]{1,7}){1,2}");
        let ranges = needs.search_ranges(&text, &TextCounts::of(&text));
        assert_eq!(ranges.len(), 1, "{ranges:?}");
        assert!(
            ranges[0].start <= 5 && ranges[0].end >= 21 && ranges[0].end < 60,
            "{ranges:?}"
        );
        // On character boundaries, in a text of multi-byte characters.
        let wide = "ééééé@ééé.éé";
        for r in needs.search_ranges(wide, &TextCounts::of(wide)) {
            assert!(wide.is_char_boundary(r.start) && wide.is_char_boundary(r.end));
        }
    }
}
