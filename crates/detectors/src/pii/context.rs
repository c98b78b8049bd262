//! Context words: what the words around a candidate say about it, as Presidio's context
//! enhancer does. "Call me at 0494 92 82 32" is a phone number because of "call"; "version
//! 10.2.3.4" is not an IP address because of "version".
//!
//! A [`Context`] holds words that raise a candidate's score (by [`Context::boost`]) when one of
//! them appears among the few words before the candidate (or just after it), and words that
//! lower it by [`LOWER`]. A word in the list also matches its simple inflections (`call` matches
//! `calls`, `called`, `calling`), and an entry of several words (`date of birth`) matches those
//! words in sequence.

use std::borrow::Cow;

/// How much a lowering word takes off.
pub const LOWER: f32 = 0.4;
/// Words before the candidate that are read.
const BEFORE: usize = 6;
/// Words after the candidate that are read.
const AFTER: usize = 2;
/// Bytes scanned on each side (enough for `BEFORE` ordinary words).
const SCAN_BEFORE: usize = 64;
const SCAN_AFTER: usize = 24;

/// Context words of one recognizer rule. All words are lower-case ASCII.
#[derive(Debug)]
pub struct Context {
    pub raise: &'static [&'static str],
    pub lower: &'static [&'static str],
    /// How much a raising word adds.
    pub boost: f32,
}

impl Context {
    /// No context words: the score stands as the pattern gives it.
    pub const NONE: Context = Context {
        raise: &[],
        lower: &[],
        boost: 0.0,
    };

    /// The score of a candidate at bytes `start..end` of `text`, after its context.
    pub fn adjust(&self, text: &str, start: usize, end: usize, score: f32) -> f32 {
        if self.raise.is_empty() && self.lower.is_empty() {
            return score;
        }
        let w = Window::around(text, start, end);
        let mut s = score;
        if w.any(self.raise) {
            s += self.boost;
        }
        if w.any(self.lower) {
            s -= LOWER;
        }
        s.clamp(0.0, 1.0)
    }

    /// Whether a raising word is near the candidate.
    pub fn raised(&self, text: &str, start: usize, end: usize) -> bool {
        Window::around(text, start, end).any(self.raise)
    }
}

/// The lower-cased words around a candidate.
pub struct Window<'a> {
    before: Vec<Cow<'a, str>>,
    after: Vec<Cow<'a, str>>,
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where a clause ends: a line break (unless it follows a label's colon), a bar, a semicolon,
/// a comma, or a sentence end (`. `, `! `, `? `).
fn is_break(s: &str, i: usize, c: char) -> bool {
    match c {
        '|' | ';' | ',' | '•' => true,
        '\n' => !s[..i].trim_end_matches([' ', '\t', '\r']).ends_with(':'),
        '.' | '!' | '?' => s[i + 1..].starts_with([' ', '\n']),
        _ => false,
    }
}

/// The byte just after the last clause break in `s`.
fn last_clause_break(s: &str) -> Option<usize> {
    s.char_indices()
        .rev()
        .find(|&(i, c)| is_break(s, i, c))
        .map(|(i, c)| i + c.len_utf8())
}

/// The byte of the first clause break in `s`.
fn first_clause_break(s: &str) -> Option<usize> {
    s.char_indices()
        .find(|&(i, c)| is_break(s, i, c))
        .map(|(i, _)| i)
}

/// The words of `s`, lower-cased (an ASCII word already in lower case is borrowed, not
/// copied).
fn words(s: &str) -> impl DoubleEndedIterator<Item = Cow<'_, str>> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                Cow::Borrowed(w)
            } else {
                Cow::Owned(w.to_lowercase())
            }
        })
}

impl<'a> Window<'a> {
    pub fn around(text: &'a str, start: usize, end: usize) -> Self {
        let mut from = floor_boundary(text, start.saturating_sub(SCAN_BEFORE));
        // A word cut by the scan window is only part of a word: skip it.
        if from > 0
            && text[..from]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        {
            from += text[from..start]
                .find(|c: char| !c.is_alphanumeric())
                .unwrap_or(start - from);
        }
        // Words in another clause describe something else: in "Account Manager | 646-555-0112"
        // "account" is not about the number.
        let before_text = &text[from..start];
        let before_text = match last_clause_break(before_text) {
            Some(i) => &before_text[i..],
            None => before_text,
        };
        let to = floor_boundary(text, (end + SCAN_AFTER).min(text.len()));
        let after_text = &text[end..to];
        let after_text = match first_clause_break(after_text) {
            Some(i) => &after_text[..i],
            None => after_text,
        };
        let mut before: Vec<Cow<'a, str>> = words(before_text).rev().take(BEFORE).collect();
        before.reverse();
        let after = words(after_text).take(AFTER).collect();
        Self { before, after }
    }

    /// Whether any entry of `list` occurs before or after the candidate.
    pub fn any(&self, list: &[&str]) -> bool {
        list.iter()
            .any(|entry| contains_seq(&self.before, entry) || contains_seq(&self.after, entry))
    }
}

/// Whether `word` is `entry` or a simple inflection of it.
fn matches(word: &str, entry: &str) -> bool {
    if word == entry {
        return true;
    }
    entry.len() >= 4
        && word.len() <= entry.len() + 3
        && word.starts_with(entry)
        && matches!(
            &word[entry.len()..],
            "s" | "es" | "ed" | "d" | "ing" | "er" | "ers"
        )
}

/// Whether the words of `entry` (one or several, separated by single spaces) occur in
/// sequence in `words`.
fn contains_seq(words: &[Cow<'_, str>], entry: &str) -> bool {
    if entry.is_empty() {
        return false;
    }
    // Most entries are one word: no windows, no splitting for each of them.
    if !entry.contains(' ') {
        return words.iter().any(|w| matches(w, entry));
    }
    let n = entry.split(' ').count();
    if n > words.len() {
        return false;
    }
    words
        .windows(n)
        .any(|w| w.iter().zip(entry.split(' ')).all(|(a, b)| matches(a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: Context = Context {
        raise: &["phone", "call", "date of birth"],
        lower: &["order"],
        boost: 0.35,
    };

    #[test]
    fn raises_on_words_before_and_after_and_inflections() {
        let t = "Please have the manager call me at 0494 92 82 32 today";
        let s = t.find("0494").unwrap();
        assert!((PHONE.adjust(t, s, s + 13, 0.4) - 0.75).abs() < 1e-6);
        let t = "She called 555 0100";
        assert!(PHONE.raised(t, 11, 19));
        let t = "555 0100 (phone)";
        assert!(PHONE.raised(t, 0, 8));
        let t = "Date of birth: 1990-01-02";
        assert!(PHONE.raised(t, 15, 25));
    }

    #[test]
    fn lowers_and_ignores_far_or_partial_words() {
        let t = "order 5550100";
        assert!(PHONE.adjust(t, 6, 13, 0.6) < 0.5);
        let t = "phone is not near here because many words come in between 5550100";
        let s = t.find("555").unwrap();
        assert!(!PHONE.raised(t, s, s + 7));
        assert!(!PHONE.raised("callous 5550100", 8, 15));
        assert_eq!(Context::NONE.adjust("call 1", 5, 6, 0.3), 0.3);
    }

    #[test]
    fn clauses_bound_the_window() {
        let t = "Jane Roe | Account Manager | 646-555-0112 | jane@contoso.com";
        let s = t.find("646").unwrap();
        let w = Window::around(t, s, s + 12);
        assert!(!w.any(&["account"]));
        let t = "(646) 555-0187, card 4661 3186 0913 9090";
        assert!(!Window::around(t, 0, 14).any(&["card"]));
        let t = "Phone:\n0494 92 82 32";
        assert!(Window::around(t, 7, t.len()).any(&["phone"]));
        let t = "We called. 0494 92 82 32";
        assert!(!Window::around(t, 11, t.len()).any(&["call"]));
    }

    #[test]
    fn multibyte_text_does_not_split_characters() {
        let t = "ééééééééééééééééééééééééééééééééééééééééé téléphone 0612345678";
        let s = t.find("0612").unwrap();
        let w = Window::around(t, s, t.len());
        assert!(w.any(&["téléphone"]));
    }
}
