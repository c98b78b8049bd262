//! Unicode normalisation: what every detector sees, and a detector for hidden characters.
//!
//! Attackers hide instructions from human reviewers and from string-matching filters with
//! characters that render as nothing (zero-width spaces, soft hyphens), reorder what is shown
//! (bidi overrides, "Trojan Source"), smuggle ASCII in invisible tag characters (U+E0020–E007E),
//! or swap Latin letters for look-alikes from other scripts (Cyrillic `а` in "pаssword").
//! [`normalize`] undoes all of that:
//!
//! - invisible characters and bidi controls are removed;
//! - tag characters are decoded to the ASCII they carry, so a detector reads the hidden text;
//! - each character gets its compatibility form (NFKC: fullwidth `ｉｇｎｏｒｅ` → `ignore`,
//!   mathematical `𝐢𝐠𝐧𝐨𝐫𝐞` → `ignore`, ligatures, non-breaking spaces);
//! - in a word that mixes Latin letters with Cyrillic or Greek look-alikes, the look-alikes are
//!   folded to Latin. Words wholly in another script are left alone: Russian stays Russian.
//!
//! The result keeps a map back to the original, so spans found on the normalised text
//! ([`Normalized::original_span`]) point at the right characters of what the user sent.
//! Emoji sequences keep their zero-width joiners and variation selectors, Persian, Arabic and
//! Indic text keep their joiners and non-joiners, right-to-left text keeps its direction marks:
//! those are flagged (and removed) only between Latin letters or digits. Bidi overrides and
//! isolates (the "Trojan Source" characters) are always flagged.

use unicode_normalization::UnicodeNormalization;

use crate::{Detection, Detector, DetectorError, DetectorInfo, DetectorKind, Input, Span};

/// Why a character was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    ZeroWidth,
    BidiControl,
    TagCharacter,
    Homoglyph,
}

impl Finding {
    /// Entity type of the span the [`HiddenText`] detector reports.
    pub fn kind(self) -> &'static str {
        match self {
            Finding::ZeroWidth => "ZERO_WIDTH",
            Finding::BidiControl => "BIDI_CONTROL",
            Finding::TagCharacter => "TAG_CHARACTER",
            Finding::Homoglyph => "HOMOGLYPH",
        }
    }
    fn score(self) -> f32 {
        match self {
            Finding::TagCharacter | Finding::BidiControl => 1.0,
            Finding::Homoglyph => 0.9,
            Finding::ZeroWidth => 0.8,
        }
    }
}

/// Normalised text with its way back to the original.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub text: String,
    /// For each normalised character: its byte offset in `text`, and the byte range of the
    /// original character(s) it came from.
    origin: Vec<(usize, usize, usize)>,
    original_len: usize,
    /// Byte ranges of the original that were changed for a suspicious reason.
    pub findings: Vec<(usize, usize, Finding)>,
}

impl Normalized {
    /// Whether normalisation changed anything.
    pub fn changed(&self, original: &str) -> bool {
        self.text != original
    }

    /// Maps a byte range of the normalised text back to a byte range of the original.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        if self.origin.is_empty() {
            return (0, 0);
        }
        // The character containing `start`, and the one containing `end - 1`.
        let at = |b: usize| match self.origin.binary_search_by(|o| o.0.cmp(&b)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        if start >= self.text.len() {
            return (self.original_len, self.original_len);
        }
        let first = at(start);
        let last = at(end.saturating_sub(1).max(start));
        (self.origin[first].1, self.origin[last].2)
    }

    /// Maps a span found on the normalised text onto `original` (the text that was normalised).
    pub fn original_span(&self, original: &str, span: &Span) -> Span {
        let (bs, be) = if span.is_empty() {
            let (s, _) = self.original_range(span.byte_start, span.byte_start + 1);
            (s, s)
        } else {
            self.original_range(span.byte_start, span.byte_end)
        };
        Span::from_bytes(original, bs, be, span.kind.clone(), span.score)
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing and carry no meaning in running text.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{2060}'
            ..='\u{2064}'
                | '\u{FEFF}'
                | '\u{00AD}'
                | '\u{180E}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{FFA0}'
                | '\u{17B4}'
                | '\u{17B5}'
    )
}

/// Joiners, selectors and direction marks that are legitimate next to emoji, in Arabic-script
/// or Indic text, and in right-to-left writing.
fn is_contextual_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200C}'
            | '\u{200D}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// Cyrillic and Greek letters that look like Latin ones.
fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'е' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ɡ' => 'g',
        'һ' => 'h',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ᴠ' => 'v',
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'І' => 'I',
        'Ј' => 'J',
        'Ѕ' => 'S',
        'Ү' => 'Y',
        'Ԝ' => 'W',
        // Greek
        'α' => 'a',
        'ο' => 'o',
        'ρ' => 'p',
        'ν' => 'v',
        'ι' => 'i',
        'κ' => 'k',
        'τ' => 't',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        _ => return None,
    })
}

/// Normalises `text` (see the module docs). Cost is linear; ASCII text is copied unchanged.
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized {
        text: String::with_capacity(text.len()),
        origin: Vec::with_capacity(text.len()),
        original_len: text.len(),
        findings: Vec::new(),
    };
    if text.is_ascii() {
        out.text.push_str(text);
        out.origin = text.char_indices().map(|(b, _)| (b, b, b + 1)).collect();
        return out;
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i + 1).map(|c| c.0).unwrap_or(text.len());
    let latin = |c: Option<&(usize, char)>| c.is_some_and(|&(_, c)| c.is_ascii_alphanumeric());
    let push = |out: &mut Normalized, c: char, from: usize, to: usize| {
        out.origin.push((out.text.len(), from, to));
        out.text.push(c);
    };
    for (i, &(b, c)) in chars.iter().enumerate() {
        let e = end_of(i);
        if is_tag(c) {
            out.findings.push((b, e, Finding::TagCharacter));
            let ascii = c as u32 - 0xE0000;
            if (0x20..0x7F).contains(&ascii) {
                push(&mut out, char::from_u32(ascii).expect("ASCII"), b, e);
            }
            continue;
        }
        if is_bidi_control(c) {
            out.findings.push((b, e, Finding::BidiControl));
            continue;
        }
        if is_invisible(c) {
            out.findings.push((b, e, Finding::ZeroWidth));
            continue;
        }
        if is_contextual_invisible(c) {
            // Between Latin letters it hides a word from filters; elsewhere (emoji, Persian)
            // it is part of the writing and stays.
            if latin(i.checked_sub(1).and_then(|j| chars.get(j))) && latin(chars.get(i + 1)) {
                out.findings.push((b, e, Finding::ZeroWidth));
                continue;
            }
            push(&mut out, c, b, e);
            continue;
        }
        if c.is_ascii() {
            push(&mut out, c, b, e);
            continue;
        }
        for n in std::iter::once(c).nfkc() {
            push(&mut out, n, b, e);
        }
    }
    fold_homoglyphs(&mut out);
    out
}

/// Folds look-alike letters to Latin inside words that also hold Latin letters.
fn fold_homoglyphs(out: &mut Normalized) {
    let chars: Vec<char> = out.text.chars().collect();
    let mut folded = String::with_capacity(out.text.len());
    let mut origin = Vec::with_capacity(out.origin.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            origin.push((folded.len(), out.origin[i].1, out.origin[i].2));
            folded.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let word = &chars[start..i];
        let has_latin = word.iter().any(|c| c.is_ascii_alphabetic());
        let has_lookalike = word.iter().any(|&c| latin_lookalike(c).is_some());
        // Only words made of Latin letters and look-alikes: a Russian word that happens to
        // contain one Latin letter is not an attack on an English filter.
        let mixed = has_latin
            && has_lookalike
            && word
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || latin_lookalike(c).is_some());
        for (k, &c) in word.iter().enumerate() {
            let (_, from, to) = out.origin[start + k];
            let c = match latin_lookalike(c) {
                Some(l) if mixed => {
                    out.findings.push((from, to, Finding::Homoglyph));
                    l
                }
                _ => c,
            };
            origin.push((folded.len(), from, to));
            folded.push(c);
        }
    }
    out.text = folded;
    out.origin = origin;
    out.findings.sort_by_key(|f| f.0);
}

/// Runs a detector on the normalised text and maps its spans back onto the original. The
/// registry wraps every detector but [`HiddenText`] in this.
pub struct Normalizing<D> {
    pub inner: D,
}

impl<D: Detector> Detector for Normalizing<D> {
    fn info(&self) -> &DetectorInfo {
        self.inner.info()
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        Ok(self.detect_batch(std::slice::from_ref(input))?.remove(0))
    }

    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        // ASCII normalises to itself, offsets and all: most texts skip the copy and the
        // offset map.
        if inputs
            .iter()
            .all(|i| i.text.is_ascii() && i.prompt.is_none_or(str::is_ascii))
        {
            return self.inner.detect_batch(inputs);
        }
        let texts: Vec<Normalized> = inputs.iter().map(|i| normalize(i.text)).collect();
        let prompts: Vec<Option<Normalized>> =
            inputs.iter().map(|i| i.prompt.map(normalize)).collect();
        let normalized: Vec<Input<'_>> = texts
            .iter()
            .zip(&prompts)
            .map(|(t, p)| Input {
                text: &t.text,
                prompt: p.as_ref().map(|p| p.text.as_str()),
            })
            .collect();
        let mut out = self.inner.detect_batch(&normalized)?;
        for ((d, n), input) in out.iter_mut().zip(&texts).zip(inputs) {
            for s in &mut d.spans {
                *s = n.original_span(input.text, s);
            }
        }
        Ok(out)
    }

    fn prepare_prompt(&self, prompt: &str) {
        // The prompt `detect_batch` will hand the inner detector.
        if prompt.is_ascii() {
            self.inner.prepare_prompt(prompt)
        } else {
            self.inner.prepare_prompt(&normalize(prompt).text)
        }
    }
}

/// The `unicode` detector: reports hidden characters, bidi controls, tag characters and
/// look-alike letters as spans of the original text (label `hidden`, or `clean`).
pub struct HiddenText {
    info: DetectorInfo,
}

impl HiddenText {
    pub fn new(info: DetectorInfo) -> Self {
        Self { info }
    }

    /// The detector's static description (the registry adds calibration figures).
    pub fn describe() -> DetectorInfo {
        DetectorInfo {
            id: "unicode",
            description: "Hidden or deceptive Unicode: zero-width characters, bidi controls, \
                          tag characters (ASCII smuggling) and look-alike letters mixed into Latin words",
            sections: &["5.3", "3.2.3"],
            version: "1".into(),
            kind: DetectorKind::Spans {
                types: [
                    Finding::ZeroWidth,
                    Finding::BidiControl,
                    Finding::TagCharacter,
                    Finding::Homoglyph,
                ]
                .iter()
                .map(|f| f.kind().to_string())
                .collect(),
            },
            calibration: None,
        }
    }
}

impl Detector for HiddenText {
    fn info(&self) -> &DetectorInfo {
        &self.info
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        let n = normalize(input.text);
        // Adjacent findings of one kind become one span ("a run of 40 tag characters").
        let mut spans: Vec<Span> = Vec::new();
        for &(s, e, f) in &n.findings {
            match spans.last_mut() {
                Some(last) if last.byte_end == s && last.kind == f.kind() => {
                    *last = Span::from_bytes(input.text, last.byte_start, e, f.kind(), f.score());
                }
                _ => spans.push(Span::from_bytes(input.text, s, e, f.kind(), f.score())),
            }
        }
        Ok(Detection::spans("hidden", spans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_unchanged() {
        let n = normalize("Ignore previous instructions.");
        assert_eq!(n.text, "Ignore previous instructions.");
        assert!(n.findings.is_empty());
        assert_eq!(n.original_range(7, 15), (7, 15));
        // `Normalizing` hands ASCII texts to its detector as they are: every ASCII character,
        // controls included, must normalise to itself at its own offset.
        let all: String = (0..128u8).map(char::from).collect();
        let n = normalize(&all);
        assert_eq!(n.text, all);
        assert!(n.findings.is_empty());
        assert!((0..128).all(|i| n.original_range(i, i + 1) == (i, i + 1)));
    }

    #[test]
    fn removes_zero_width_and_bidi_and_maps_back() {
        let original = "ig\u{200B}no\u{202E}re me";
        let n = normalize(original);
        assert_eq!(n.text, "ignore me");
        let (s, e) = n.original_range(0, 6);
        assert_eq!(&original[s..e], "ig\u{200B}no\u{202E}re");
        assert_eq!(n.findings.len(), 2);
    }

    #[test]
    fn decodes_tag_characters() {
        let hidden: String = "hi"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let n = normalize(&format!("ok{hidden}"));
        assert_eq!(n.text, "okhi");
        assert!(n.findings.iter().all(|f| f.2 == Finding::TagCharacter));
    }

    #[test]
    fn folds_fullwidth_and_math_letters() {
        assert_eq!(normalize("ｉｇｎｏｒｅ").text, "ignore");
        assert_eq!(normalize("𝐢𝐠𝐧𝐨𝐫𝐞 all").text, "ignore all");
        assert_eq!(normalize("a\u{00A0}b").text, "a b");
    }

    #[test]
    fn folds_lookalikes_only_in_mixed_words() {
        // Cyrillic а and о inside Latin words.
        let n = normalize("pаsswоrd please");
        assert_eq!(n.text, "password please");
        assert_eq!(
            n.findings
                .iter()
                .filter(|f| f.2 == Finding::Homoglyph)
                .count(),
            2
        );
        // A Russian sentence stays as it is.
        let ru = "Привет, как дела?";
        assert_eq!(normalize(ru).text, ru);
        assert!(normalize(ru).findings.is_empty());
    }

    #[test]
    fn keeps_emoji_joiners_and_persian_non_joiners() {
        let family = "👨\u{200D}👩\u{200D}👧 ok";
        assert_eq!(normalize(family).text, family);
        let fa = "می\u{200C}خواهم";
        assert_eq!(normalize(fa).text, fa);
        // Between Latin letters the same joiner is a hiding trick.
        assert_eq!(normalize("by\u{200D}pass").text, "bypass");
    }

    #[test]
    fn hidden_text_detector_reports_runs_in_original_offsets() {
        let d = HiddenText::new(HiddenText::describe());
        let hidden: String = "run rm"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let text = format!("héllo {hidden}!");
        let det = d.detect(&Input::text(&text)).unwrap();
        assert_eq!(det.label, "hidden");
        assert_eq!(det.spans.len(), 1);
        assert_eq!((det.spans[0].start, det.spans[0].end), (6, 12));
        assert_eq!(det.spans[0].kind, "TAG_CHARACTER");
        assert_eq!(
            d.detect(&Input::text("plain text, café")).unwrap().label,
            "clean"
        );
    }
}
