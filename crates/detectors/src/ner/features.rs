//! Cheap word-shape features per token, read from the text itself.
//!
//! MiniLM's tokenizer lowercases, so its hidden states cannot tell "Paris" from "paris" or
//! "Smith" from "smith"; capitalisation is the strongest single clue a name gives in English.
//! These features put it back, with a few closed word classes (honorifics, company suffixes,
//! street words, months and weekdays) that mark where an entity starts or ends. The names of the
//! features are stored in the weights file and checked at load, so a weights file made for a
//! different feature set is refused rather than misread.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Feature names, in order.
pub const NAMES: &[&str] = &[
    "first_piece",
    "punct",
    "init_upper",
    "all_upper",
    "all_lower",
    "has_digit",
    "all_digit",
    "non_ascii",
    "short",
    "long",
    "sentence_start",
    "line_start",
    "dot_after",
    "honorific",
    "org_suffix",
    "street_word",
    "month_or_day",
    "in_email_or_url",
    "text_title_case",
    "text_all_upper",
    "text_all_lower",
    "prev_init_upper",
    "prev_all_upper",
    "prev_has_digit",
    "prev_honorific",
    "prev_org_suffix",
    "prev_street_word",
    "next_init_upper",
    "next_all_upper",
    "next_has_digit",
    "next_honorific",
    "next_org_suffix",
    "next_street_word",
];

pub const COUNT: usize = NAMES.len();

const HONORIFICS: &str =
    "mr mrs ms miss mx dr prof sir dame lady lord rev herr frau mme mlle madam mister sr sra srta";
const ORG_SUFFIXES: &str = "inc ltd llc plc gmbh ag sa bv nv oy ab as spa srl corp corporation co company group holdings \
    partners associates sons incorporated limited technologies solutions systems consulting labs industries enterprises \
    ventures capital foundation institute university bank";
const STREET_WORDS: &str = "street st road rd avenue ave lane ln drive boulevard blvd way court ct place pl square sq \
    terrace close crescent parkway highway hwy apt apartment suite unit flat box floor rue via viale vicolo piazza calle \
    avenida rua travessa ul ulica al utca u út str strasse straße weg gasse platz allee vej gade gatan vägen veien gata \
    tie katu kuja straat laan";
const STREET_ENDINGS: &[&str] = &[
    "vej", "gade", "gatan", "vägen", "veien", "gata", "katu", "tie", "kuja", "straße", "strasse",
    "weg", "gasse", "straat", "laan", "platz", "allee",
];
const MONTHS_DAYS: &str = "january february march april may june july august september october november december jan feb \
    mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun";

struct Sets {
    honorific: HashSet<&'static str>,
    org: HashSet<&'static str>,
    street: HashSet<&'static str>,
    month_day: HashSet<&'static str>,
}

fn sets() -> &'static Sets {
    static S: OnceLock<Sets> = OnceLock::new();
    S.get_or_init(|| Sets {
        honorific: HONORIFICS.split_whitespace().collect(),
        org: ORG_SUFFIXES.split_whitespace().collect(),
        street: STREET_WORDS.split_whitespace().collect(),
        month_day: MONTHS_DAYS.split_whitespace().collect(),
    })
}

/// A maximal run of letters and digits, in bytes.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '\u{300}'..='\u{36f}')
}

fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Word { start: s, end: i });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            start: s,
            end: text.len(),
        });
    }
    out
}

/// Properties of one word.
#[derive(Default, Clone, Copy)]
struct Shape {
    init_upper: bool,
    all_upper: bool,
    all_lower: bool,
    has_digit: bool,
    all_digit: bool,
    non_ascii: bool,
    short: bool,
    long: bool,
    honorific: bool,
    org: bool,
    street: bool,
    month_day: bool,
}

fn shape(w: &str) -> Shape {
    let s = sets();
    let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
    let lower = w.to_lowercase();
    let n = w.chars().count();
    Shape {
        init_upper: w.chars().next().is_some_and(char::is_uppercase),
        all_upper: letters.len() >= 2 && letters.iter().all(|c| !c.is_lowercase()),
        all_lower: !letters.is_empty() && letters.iter().all(|c| !c.is_uppercase()),
        has_digit: w.chars().any(|c| c.is_ascii_digit()),
        all_digit: n > 0 && w.chars().all(|c| c.is_ascii_digit()),
        non_ascii: letters.iter().any(|c| !c.is_ascii()),
        short: n <= 2,
        long: n >= 9,
        honorific: s.honorific.contains(lower.as_str()),
        org: s.org.contains(lower.as_str()),
        street: s.street.contains(lower.as_str())
            || STREET_ENDINGS
                .iter()
                .any(|e| lower.len() > e.len() + 2 && lower.ends_with(e)),
        month_day: s.month_day.contains(lower.as_str()),
    }
}

/// Shape features for each token (`tokens` are byte ranges into `text`), `COUNT` per token,
/// row-major.
pub fn token_features(text: &str, tokens: &[(usize, usize)]) -> Vec<f32> {
    let ws = words(text);
    let shapes: Vec<Shape> = ws.iter().map(|w| shape(&text[w.start..w.end])).collect();
    let caps = shapes.iter().filter(|s| s.init_upper).count();
    let lettered = shapes
        .iter()
        .filter(|s| s.all_upper || s.all_lower || s.init_upper)
        .count();
    let title_case = ws.len() >= 3 && caps * 10 >= lettered * 7;
    let text_upper = text.chars().any(char::is_alphabetic) && !text.chars().any(char::is_lowercase);
    let text_lower = text.chars().any(char::is_alphabetic) && !text.chars().any(char::is_uppercase);
    let mut out = vec![0f32; tokens.len() * COUNT];
    for (t, &(ts, te)) in tokens.iter().enumerate() {
        let f = &mut out[t * COUNT..(t + 1) * COUNT];
        let set = |f: &mut [f32], name: &str, on: bool| {
            if on {
                let i = NAMES.iter().position(|n| *n == name).expect("feature name");
                f[i] = 1.0;
            }
        };
        let wi = ws.partition_point(|w| w.end <= ts);
        let word = ws.get(wi).filter(|w| w.start <= ts && ts < w.end).copied();
        set(f, "text_title_case", title_case);
        set(f, "text_all_upper", text_upper);
        set(f, "text_all_lower", text_lower);
        let Some(w) = word else {
            set(f, "punct", true);
            set(f, "first_piece", true);
            let _ = te;
            continue;
        };
        let sh = shapes[wi];
        set(f, "first_piece", ts == w.start);
        set(f, "init_upper", sh.init_upper);
        set(f, "all_upper", sh.all_upper);
        set(f, "all_lower", sh.all_lower);
        set(f, "has_digit", sh.has_digit);
        set(f, "all_digit", sh.all_digit);
        set(f, "non_ascii", sh.non_ascii);
        set(f, "short", sh.short);
        set(f, "long", sh.long);
        set(f, "honorific", sh.honorific);
        set(f, "org_suffix", sh.org);
        set(f, "street_word", sh.street);
        set(f, "month_or_day", sh.month_day);
        // The whitespace-delimited chunk holding the word: names inside e-mail addresses and
        // URLs are not PERSON spans (the rule-based recognizers report the whole address).
        let chunk_start = text[..w.start]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1);
        let chunk_end = text[w.end..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| w.end + i);
        let chunk = &text[chunk_start..chunk_end];
        set(
            f,
            "in_email_or_url",
            chunk.contains('@') || chunk.contains("://") || chunk.starts_with("www."),
        );
        let before = text[..w.start].trim_end_matches([' ', '\t']);
        let prev_char = before.chars().last();
        set(
            f,
            "line_start",
            prev_char.is_none_or(|c| c == '\n' || c == '\r'),
        );
        // A full stop after an honorific or an initial ("Mr.", "J.") does not end a sentence.
        let abbreviation = prev_char == Some('.')
            && wi > 0
            && (shapes[wi - 1].honorific
                || text[ws[wi - 1].start..ws[wi - 1].end].chars().count() == 1)
            && ws[wi - 1].end + 1 == before.len();
        set(
            f,
            "sentence_start",
            !abbreviation
                && prev_char.is_none_or(|c| {
                    matches!(
                        c,
                        '.' | '!' | '?' | ':' | '\n' | '\r' | '"' | '“' | '>' | '-' | '*'
                    )
                }),
        );
        set(f, "dot_after", text[w.end..].starts_with('.'));
        if wi > 0 {
            let p = shapes[wi - 1];
            set(f, "prev_init_upper", p.init_upper);
            set(f, "prev_all_upper", p.all_upper);
            set(f, "prev_has_digit", p.has_digit);
            set(f, "prev_honorific", p.honorific);
            set(f, "prev_org_suffix", p.org);
            set(f, "prev_street_word", p.street);
        }
        if let Some(n) = shapes.get(wi + 1) {
            set(f, "next_init_upper", n.init_upper);
            set(f, "next_all_upper", n.all_upper);
            set(f, "next_has_digit", n.has_digit);
            set(f, "next_honorific", n.honorific);
            set(f, "next_org_suffix", n.org);
            set(f, "next_street_word", n.street);
        }
    }
    out
}

/// The byte range of the word around `[start, end)`: extended to the edges of the letter-and-
/// digit runs it touches (so a span never ends inside "Müller").
pub fn snap_to_words(text: &str, start: usize, end: usize) -> (usize, usize) {
    let mut s = start;
    while let Some(c) = text[..s].chars().next_back() {
        let inside = text[s..].chars().next().is_some_and(is_word_char);
        if is_word_char(c) && inside {
            s -= c.len_utf8();
        } else {
            break;
        }
    }
    let mut e = end;
    while let Some(c) = text[e..].chars().next() {
        let inside = text[..e].chars().next_back().is_some_and(is_word_char);
        if is_word_char(c) && inside {
            e += c.len_utf8();
        } else {
            break;
        }
    }
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(f: &[f32], t: usize, name: &str) -> bool {
        f[t * COUNT + NAMES.iter().position(|n| *n == name).unwrap()] == 1.0
    }

    #[test]
    fn shapes_of_words_and_neighbours() {
        let text = "Call Mr. Jürgen MÜLLER at 12 Main St.";
        let tok = |w: &str| {
            let s = text.find(w).unwrap();
            (s, s + w.len())
        };
        let toks = [
            tok("Call"),
            tok("Mr"),
            tok("."),
            tok("Jürgen"),
            tok("MÜLLER"),
            tok("12"),
            tok("St"),
        ];
        let f = token_features(text, &toks);
        assert!(get(&f, 0, "sentence_start") && get(&f, 0, "init_upper"));
        assert!(get(&f, 1, "honorific") && get(&f, 1, "dot_after"));
        assert!(get(&f, 2, "punct"));
        assert!(
            get(&f, 3, "prev_honorific")
                && get(&f, 3, "non_ascii")
                && !get(&f, 3, "sentence_start")
        );
        assert!(get(&f, 4, "all_upper") && get(&f, 4, "prev_init_upper"));
        assert!(get(&f, 5, "all_digit") && get(&f, 5, "next_init_upper"));
        assert!(get(&f, 6, "street_word"));
        assert!(get(
            &token_features("Nørrevej 12", &[(0, 3)]),
            0,
            "street_word"
        ));
    }

    #[test]
    fn snapping_extends_to_word_edges_only() {
        let t = "Jürgen Müller's car";
        let s = t.find("ller").unwrap();
        assert_eq!(
            snap_to_words(t, s, s + 4),
            (t.find("Müller").unwrap(), t.find("'s").unwrap())
        );
        assert_eq!(snap_to_words(t, 0, 7), (0, 7));
    }
}
