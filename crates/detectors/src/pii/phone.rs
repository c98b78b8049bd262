//! Phone numbers in international (`+41 (0)96 471 07 95`, `+1-604-696-5272x565`,
//! `001-518-640-0854`) and national formats (`(579)888-3058`, `0494 92 82 32`,
//! `03.93.92.16.85`, `079 0442 1744`).
//!
//! Shape alone says little: `2019 2020`, `1 234 567`, `12.10.2021` and `192.168.0.1` are digit
//! runs too. A candidate is scored by how phone-like its format is (a valid country code, the
//! North American plan, a national trunk `0`), and context decides the weak ones: "call me at
//! 78 651 450" is a phone number, "order 78 651 450" is not.

use super::context::Context;
use super::rules::{Found, Hit, Rule, RuleRecognizer, digit_groups, number};

/// ITU-T E.164 country calling codes: all one- and two-digit codes in use, and the two-digit
/// prefixes under which three-digit codes are assigned.
fn country_code_len(d: &[u8]) -> Option<usize> {
    let two = |a: u8, b: u8| u16::from(a) * 10 + u16::from(b);
    match d.first()? {
        1 | 7 => return Some(1),
        _ => {}
    }
    let p = two(d[0], *d.get(1)?);
    const TWO: &[u16] = &[
        20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55,
        56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
    ];
    const THREE: &[u16] = &[
        21, 22, 23, 24, 25, 26, 29, 35, 37, 38, 42, 50, 59, 67, 68, 69, 85, 87, 88, 96, 97, 99,
    ];
    if TWO.contains(&p) {
        Some(2)
    } else if THREE.contains(&p) && d.len() > 2 {
        Some(3)
    } else {
        None
    }
}

static PHONE_CONTEXT: Context = Context {
    raise: &[
        "phone",
        "telephone",
        "tel",
        "mobile",
        "mob",
        "cell",
        "cellphone",
        "fax",
        "call",
        "ring",
        "dial",
        "text",
        "sms",
        "whatsapp",
        "contact",
        "reach",
        "desk",
        "office",
        "landline",
        "hotline",
        "helpline",
        "message",
        "messages",
        "answering",
        "extension",
        "ph",
        "my number",
        "your number",
        "his number",
        "her number",
        "phone number",
        "tel no",
        "telefon",
        "téléphone",
        "telefono",
    ],
    lower: &[
        "order",
        "invoice",
        "account",
        "acct",
        "isbn",
        "issn",
        "tracking",
        "reference",
        "ref",
        "serial",
        "sku",
        "id",
        "version",
        "zip",
        "postcode",
        "price",
        "total",
        "amount",
        "population",
        "ssn",
        "card",
        "iban",
        "routing",
        "transaction",
        "confirmation",
        "booking",
        "ticket",
        "patent",
        "case",
        "policy",
        "page",
        "pages",
        "item",
        "items",
        "revenue",
        "usd",
        "eur",
        "dollars",
        "euros",
        "bytes",
        "rows",
        "born",
        "year",
        "years",
        "passport",
        "license",
        "licence",
        // A house number and a flat number are not a phone number.
        "street",
        "st",
        "rue",
        "avenue",
        "ave",
        "road",
        "rd",
        "apt",
        "suite",
        "located",
        "boulevard",
        "blvd",
        "lane",
        "floor",
        "room",
    ],
    boost: 0.4,
};

fn plausible_date(a: u64, b: u64, c: u64, la: usize, lc: usize) -> bool {
    let md = |m: u64, d: u64| (1..=12).contains(&m) && (1..=31).contains(&d);
    if la == 4 {
        return (1800..=2199).contains(&a) && md(b, c);
    }
    (lc == 4 || lc == 2) && (md(a, b) || md(b, a))
}

/// The score of a phone-number candidate without stray separators, or `None`.
fn score_segment(h: &Hit<'_>) -> Option<f32> {
    let v = h.value();
    let (main, ext) = split_extension(v);
    let intl_plus = main.starts_with('+');
    let groups = digit_groups(main, 0);
    let lens: Vec<usize> = groups.iter().map(|g| g.1 - g.0).collect();
    let nums: Vec<u64> = groups.iter().map(|g| number(&main[g.0..g.1])).collect();
    let digits: Vec<u8> = main
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let d = digits.len();
    let seps: Vec<&str> = groups.windows(2).map(|w| &main[w[0].1..w[1].0]).collect();
    let marks: std::collections::BTreeSet<char> = seps
        .iter()
        .flat_map(|s| s.chars())
        .filter(|c| matches!(c, '.' | '-' | '/'))
        .collect();
    if marks.len() > 1 {
        return None;
    }
    let mark = marks.iter().next().copied();
    // Parentheses hold a short group: an area code or a trunk `(0)`.
    let opens = main.matches('(').count();
    if opens != main.matches(')').count() || opens > 1 {
        return None;
    }
    if let (Some(o), Some(c)) = (main.find('('), main.find(')')) {
        // `)(` is no group at all (and no range to slice).
        if c < o {
            return None;
        }
        let inner = &main[o + 1..c];
        if inner.is_empty() || inner.len() > 4 || !inner.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    // Shapes that are something else.
    if mark == Some('.')
        && lens.len() == 4
        && lens.iter().all(|&l| l <= 3)
        && nums.iter().all(|&n| n <= 255)
    {
        return None; // an IPv4 address
    }
    if mark == Some('.') && lens.len() == 2 {
        return None; // a decimal number
    }
    for i in 0..lens.len().saturating_sub(2) {
        let same = seps[i].trim() == seps[i + 1].trim() && !seps[i].trim().is_empty();
        if same && plausible_date(nums[i], nums[i + 1], nums[i + 2], lens[i], lens[i + 2]) {
            return None; // a date
        }
    }
    if lens.iter().all(|&l| l == 4)
        && nums.iter().all(|n| (1900..=2099).contains(n))
        && lens.len() > 1
    {
        return None; // years
    }
    if lens.iter().filter(|&&l| l == 1).count() >= 3 {
        return None; // a list of small numbers
    }
    let mut score = if intl_plus || (digits.starts_with(&[0, 0]) && d >= 10) {
        let cc = if intl_plus { &digits[..] } else { &digits[2..] };
        country_code_len(cc)?;
        if !(8..=15).contains(&cc.len()) {
            return None;
        }
        0.7
    } else {
        if !(7..=12).contains(&d) {
            return None;
        }
        let nanp = |l: &[usize], n: &[u64]| l == [3, 3, 4] && n[0] >= 200 && n[1] >= 200;
        if nanp(&lens, &nums) || (lens.len() == 4 && nums[0] == 1 && nanp(&lens[1..], &nums[1..])) {
            0.65
        } else if mark == Some('-') && lens == [3, 2, 4] {
            0.2 // the shape of a US SSN
        } else if lens.len() >= 2 && digits[0] == 0 && d >= 9 {
            0.55
        } else if lens.len() >= 2
            && lens[0] <= 3
            && lens[0] >= 1
            && digits[0] != 0
            && lens[1..].iter().all(|&l| l == 3)
        {
            0.15 // `1 234 567`: a number with thousands separators as often as a phone number
        } else if lens.len() >= 2 {
            0.35
        } else if d >= 10 {
            0.3
        } else {
            0.15
        }
    };
    if ext.is_some() {
        score += 0.1;
    }
    Some(score)
}

/// Splits `x0135`, `ext. 12`, `extension 7` off the end.
fn split_extension(v: &str) -> (&str, Option<&str>) {
    let lower = v.to_ascii_lowercase();
    for marker in ["extension", "ext.", "ext", "x", "#"] {
        if let Some(i) = lower.rfind(marker) {
            let tail = v[i + marker.len()..].trim_start();
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                return (v[..i].trim_end(), Some(tail));
            }
        }
    }
    (v, None)
}

fn check_phone(h: &Hit<'_>) -> Option<Found> {
    let before = h.before();
    if before.is_some_and(|c| {
        c.is_alphanumeric() || matches!(c, '$' | '€' | '£' | '¥' | '#' | '_' | '@' | '+' | '=')
    }) || h
        .after()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '%' | '°' | '_' | '€' | '$'))
        || !h.number_bounded()
    {
        return None;
    }
    // Split where two numbers meet with more than one separator between them ("0100. 12").
    let v = h.value();
    let mut best: Option<Found> = None;
    let mut seg_start = 0;
    let bytes = v.as_bytes();
    let mut i = 0;
    let mut cuts = Vec::new();
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            let j = (i..bytes.len())
                .find(|&j| bytes[j].is_ascii_digit())
                .unwrap_or(bytes.len());
            let sep = &v[i..j];
            let ok = sep.len() <= 1
                || matches!(
                    sep,
                    ") " | " ("
                        | ")-"
                        | "-("
                        | ") ("
                        | "x"
                        | " x"
                        | "x "
                        | " x "
                        | "ext"
                        | " ext "
                        | "ext."
                        | " ext. "
                        | "#"
                        | " #"
                )
                || (i == 0 && sep.starts_with('+'))
                || (sep.len() <= 3
                    && sep.chars().all(|c| c == '(' || c == ')' || c == ' ')
                    && sep.trim() != "");
            if !ok && i > 0 && j < bytes.len() {
                cuts.push((i, j));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    cuts.push((v.len(), v.len()));
    for (cut, next) in cuts {
        let seg = v[seg_start..cut].trim_end_matches([' ', '(', '-', '.', '/']);
        let seg_lead = seg.len() - seg.trim_start_matches([' ', ')', '-', '.', '/']).len();
        let sub = h.with(
            h.start + seg_start + seg_lead,
            h.start + seg_start + seg.len(),
        );
        if sub.end > sub.start
            && let Some(score) = score_segment(&sub)
            && best.is_none_or(|b| score > b.score)
        {
            best = Some(Found {
                start: sub.start,
                end: sub.end,
                score,
                pinned: false,
            });
        }
        seg_start = next;
    }
    best
}

pub fn phone() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.phone",
        vec![Rule::new(
            "PHONE_NUMBER",
            r"\+?\(?[0-9][0-9 .\-()/]{4,24}[0-9](?:[ ]?(?:x|ext\.?|extension|#)[ ]?[0-9]{1,6})?",
            check_phone,
            &PHONE_CONTEXT,
        )],
    )
}
