//! National identifiers. Where a scheme has a check digit it is verified (Spanish NIF/NIE
//! letter, Italian codice fiscale check letter, Dutch BSN 11-test, Aadhaar Verhoeff, Canadian
//! SIN Luhn, Australian TFN weights, UK NHS mod 11); where it has only allocation rules they
//! are applied (US SSN areas, groups and serials; US ITIN groups; UK NINO prefixes). Numbers
//! that are just digits (passport and driving licence numbers, BSN, SIN, TFN) are reported
//! only next to words that name them.

use super::checksum;
use super::context::Context;
use super::rules::{Found, Hit, Rule, RuleRecognizer, digit_groups, digits_of, number};

/// Separators of a grouped number: all the same, or none.
fn same_separators(v: &str) -> Option<Option<char>> {
    let seps: Vec<char> = v.chars().filter(|c| !c.is_ascii_alphanumeric()).collect();
    match seps.first() {
        None => Some(None),
        Some(&c) if seps.iter().all(|&s| s == c) => Some(Some(c)),
        _ => None,
    }
}

static SSN_CONTEXT: Context = Context {
    raise: &[
        "ssn",
        "ssns",
        "social security",
        "social",
        "security number",
        "ss",
        "ssa",
    ],
    lower: &[
        "phone", "tel", "fax", "call", "order", "zip", "routing", "account", "isbn", "invoice",
        "tracking", "itin",
    ],
    boost: 0.4,
};

/// Numbers the SSA never issued or that were published (the Woolworth wallet card, the 1962
/// advertisement) — examples, nobody's number.
const INVALID_SSNS: &[&str] = &["078051120", "219099999", "123456789", "457555462"];

fn check_ssn(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let sep = same_separators(h.value())?;
    let g = digit_groups(h.value(), 0);
    if sep.is_some() && g.len() != 3 {
        return None;
    }
    let d = digits_of(h.value());
    let (area, group, serial) = (
        number(&h.value()[..3]),
        u64::from(d[3]) * 10 + u64::from(d[4]),
        d[5..].iter().fold(0u64, |a, &x| a * 10 + u64::from(x)),
    );
    if area == 0
        || area == 666
        || area >= 900
        || group == 0
        || serial == 0
        || d.iter().all(|&x| x == d[0])
    {
        return None;
    }
    let compact: String = d.iter().map(|&x| char::from(b'0' + x)).collect();
    if INVALID_SSNS.contains(&compact.as_str()) {
        return None;
    }
    let score = match sep {
        Some('-') => 0.6,
        Some(_) => 0.45,
        None => 0.2,
    };
    Found::at(h, score)
}

static ITIN_CONTEXT: Context = Context {
    raise: &["itin", "taxpayer", "tax id", "individual taxpayer", "tin"],
    lower: &["phone", "tel", "fax", "order", "zip"],
    boost: 0.4,
};

fn check_itin(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let sep = same_separators(h.value())?;
    let d = digits_of(h.value());
    let group = u64::from(d[3]) * 10 + u64::from(d[4]);
    if !matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99) {
        return None;
    }
    Found::at(h, if sep == Some('-') { 0.5 } else { 0.2 })
}

static NINO_CONTEXT: Context = Context {
    raise: &[
        "national insurance",
        "ni",
        "nino",
        "insurance number",
        "ni number",
    ],
    lower: &[],
    boost: 0.25,
};

fn check_nino(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let compact: String = h.value().chars().filter(|c| !c.is_whitespace()).collect();
    let upper = compact.to_ascii_uppercase();
    if compact != upper && compact != compact.to_ascii_lowercase() {
        return None;
    }
    let b = upper.as_bytes();
    let (first, second) = (b[0], b[1]);
    if b"DFIQUV".contains(&first) || b"DFIOQUV".contains(&second) {
        return None;
    }
    if ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&&upper[..2]) {
        return None;
    }
    Found::at(h, 0.75)
}

static ES_CONTEXT: Context = Context {
    raise: &[
        "dni",
        "nif",
        "nie",
        "documento",
        "identidad",
        "extranjero",
        "fiscal",
    ],
    lower: &[],
    boost: 0.15,
};

const NIF_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn check_nif(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let v = h.value();
    let letter = v.chars().last()?.to_ascii_uppercase();
    let n = number(&v[..8]);
    (NIF_LETTERS[(n % 23) as usize] == letter as u8).then_some(Found::at(h, 0.85)?)
}

fn check_nie(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let v = h.value().to_ascii_uppercase();
    let prefix = match v.as_bytes()[0] {
        b'X' => 0,
        b'Y' => 1,
        _ => 2,
    };
    let letter = v.chars().last()?;
    let n = prefix * 10_000_000 + number(&v[1..v.len() - 1]);
    (NIF_LETTERS[(n % 23) as usize] == letter as u8).then_some(Found::at(h, 0.9)?)
}

/// The check letter of an Italian codice fiscale over its first 15 characters.
pub fn it_fiscal_check(code: &str) -> Option<char> {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let b = code.as_bytes();
    if b.len() < 15 {
        return None;
    }
    let mut sum = 0u32;
    for (i, &c) in b[..15].iter().enumerate() {
        let idx = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A'),
            _ => return None,
        };
        // Positions count from 1: odd positions use the table, even ones the index itself.
        sum += if i % 2 == 0 { ODD[idx as usize] } else { idx };
    }
    Some(char::from(b'A' + (sum % 26) as u8))
}

fn check_it_fiscal(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let v = h.value().to_ascii_uppercase();
    if h.value() != v && h.value() != v.to_ascii_lowercase() {
        return None;
    }
    (it_fiscal_check(&v)? == v.chars().last()?).then_some(Found::at(h, 0.95)?)
}

static BSN_CONTEXT: Context = Context {
    raise: &[
        "bsn",
        "burgerservicenummer",
        "sofinummer",
        "sofi",
        "citizen service number",
    ],
    lower: &[],
    boost: 0.6,
};

/// The Dutch "11-test": 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11).
pub fn nl_bsn(d: &[u8]) -> bool {
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let s: i64 = d[..8]
        .iter()
        .enumerate()
        .map(|(i, &x)| (9 - i as i64) * i64::from(x))
        .sum::<i64>()
        - i64::from(d[8]);
    s % 11 == 0
}

fn check_bsn(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() || same_separators(h.value()).is_none() {
        return None;
    }
    nl_bsn(&digits_of(h.value())).then_some(Found::at(h, 0.2)?)
}

static AADHAAR_CONTEXT: Context = Context {
    raise: &["aadhaar", "aadhar", "uidai", "uid"],
    lower: &["phone", "mobile", "card number", "account"],
    boost: 0.4,
};

fn check_aadhaar(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let sep = same_separators(h.value())?;
    let d = digits_of(h.value());
    if !checksum::verhoeff(&d) || d.iter().all(|&x| x == d[0]) {
        return None;
    }
    Found::at(h, if sep.is_some() { 0.5 } else { 0.3 })
}

static SIN_CONTEXT: Context = Context {
    raise: &["sin", "social insurance", "insurance number", "nas"],
    lower: &[],
    boost: 0.55,
};

fn check_ca_sin(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() || same_separators(h.value()).is_none() {
        return None;
    }
    let d = digits_of(h.value());
    if matches!(d[0], 0 | 8) || !checksum::luhn(&d) {
        return None;
    }
    Found::at(h, 0.3)
}

static TFN_CONTEXT: Context = Context {
    raise: &["tfn", "tax file", "tax file number"],
    lower: &[],
    boost: 0.6,
};

/// Australian tax file number weights (nine digits; eight-digit numbers use the first eight
/// weights with the last).
pub fn au_tfn(d: &[u8]) -> bool {
    const W9: [u32; 9] = [1, 4, 3, 7, 5, 8, 6, 9, 10];
    const W8: [u32; 8] = [10, 7, 8, 4, 6, 3, 5, 1];
    let s: u32 = match d.len() {
        9 => d.iter().zip(W9).map(|(&x, w)| u32::from(x) * w).sum(),
        8 => d.iter().zip(W8).map(|(&x, w)| u32::from(x) * w).sum(),
        _ => return false,
    };
    s.is_multiple_of(11) && d.iter().any(|&x| x != 0)
}

fn check_au_tfn(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() || same_separators(h.value()).is_none() {
        return None;
    }
    au_tfn(&digits_of(h.value())).then_some(Found::at(h, 0.2)?)
}

static NHS_CONTEXT: Context = Context {
    raise: &["nhs", "nhs number", "health service", "chi"],
    lower: &[],
    boost: 0.55,
};

/// The NHS number check digit: weights 10…2 over the first nine digits, 11 − (sum mod 11),
/// where 11 means 0 and 10 is never issued.
pub fn uk_nhs(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let s: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, &x)| (10 - i as u32) * u32::from(x))
        .sum();
    let check = match 11 - s % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == u32::from(d[9]) && d.iter().any(|&x| x != d[0])
}

fn check_nhs(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() || same_separators(h.value()).is_none() {
        return None;
    }
    uk_nhs(&digits_of(h.value())).then_some(Found::at(h, 0.25)?)
}

/// An identifier named just before it ("driver's license number is F162823540116"): it must
/// hold digits, and may not be an ordinary word.
fn check_named_id(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    if !h.word_bounded() || v.bytes().filter(u8::is_ascii_digit).count() < 4 {
        return None;
    }
    Found::at(h, 0.8)
}

pub fn us_ssn() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.us_ssn",
        vec![
            Rule::new(
                "US_SSN",
                r"[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}",
                check_ssn,
                &SSN_CONTEXT,
            ),
            Rule::new(
                "US_ITIN",
                r"9[0-9]{2}[- ]?[0-9]{2}[- ]?[0-9]{4}",
                check_itin,
                &ITIN_CONTEXT,
            ),
        ],
    )
}

pub fn uk() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.uk",
        vec![
            Rule::new(
                "UK_NINO",
                r"(?i-u:[a-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[a-d])",
                check_nino,
                &NINO_CONTEXT,
            ),
            Rule::new(
                "UK_NHS",
                r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}",
                check_nhs,
                &NHS_CONTEXT,
            ),
        ],
    )
}

pub fn europe() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.eu_national",
        vec![
            Rule::new("ES_NIF", r"[0-9]{8}-?[A-Za-z]", check_nif, &ES_CONTEXT),
            Rule::new(
                "ES_NIE",
                r"[XYZxyz]-?[0-9]{7}-?[A-Za-z]",
                check_nie,
                &ES_CONTEXT,
            ),
            Rule::new(
                "IT_FISCAL_CODE",
                r"(?i-u:[a-z]{6}[0-9lmnpqrstuv]{2}[abcdehlmprst][0-9lmnpqrstuv]{2}[a-z][0-9lmnpqrstuv]{3}[a-z])",
                check_it_fiscal,
                &Context::NONE,
            ),
            Rule::new(
                "NL_BSN",
                r"[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3}",
                check_bsn,
                &BSN_CONTEXT,
            ),
        ],
    )
}

pub fn asia_pacific_americas() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.other_national",
        vec![
            Rule::new(
                "IN_AADHAAR",
                r"[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}",
                check_aadhaar,
                &AADHAAR_CONTEXT,
            ),
            Rule::new(
                "CA_SIN",
                r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3}",
                check_ca_sin,
                &SIN_CONTEXT,
            ),
            Rule::new(
                "AU_TFN",
                r"[0-9]{3} ?[0-9]{3} ?[0-9]{2,3}",
                check_au_tfn,
                &TFN_CONTEXT,
            ),
        ],
    )
}

pub fn named_ids() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.named_ids",
        vec![
            Rule::new(
                "US_DRIVER_LICENSE",
                r"(?i-u:(?:driver'?s?|driving)\s+licen[cs]e(?:\s+(?:number|no\.?|num|#))?|(?-u:\b)DL\s*(?:#|no\.?|number)?)\s*(?:is\s+|:\s*|#\s*)?([A-Za-z0-9][A-Za-z0-9\-]{3,18}[A-Za-z0-9])",
                check_named_id,
                &Context::NONE,
            ),
            Rule::new(
                "US_PASSPORT",
                r"(?i-u:passport)(?i-u:\s+(?:number|no\.?|num|#))?\s*(?i-u:is\s+|:\s*|#\s*)?([A-Za-z]?[0-9]{8,9})",
                check_named_id,
                &Context::NONE,
            ),
        ],
    )
}
