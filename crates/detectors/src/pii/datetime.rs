//! Dates and times (`DATE_TIME`, Presidio's name): ISO dates and timestamps, numeric dates
//! (`6/24/1991`, `24.06.1991`), dates with month names (`June 24, 1991`, `24th of June 1991`),
//! weekdays, times with am/pm, and years next to words that make them years ("founded in
//! 2002"). Next to "born", "DOB" or "date of birth" a date is a date of birth and scores high.

use super::context::Context;
use super::rules::{Found, Hit, Rule, RuleRecognizer, number};

const MONTHS: &str = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

static DATE_CONTEXT: Context = Context {
    raise: &[
        "born",
        "dob",
        "date of birth",
        "birthday",
        "birth date",
        "birthdate",
        "d.o.b",
        "date",
        "on",
        "since",
        "until",
        "from",
        "dated",
        "expires",
        "expiry",
        "when",
    ],
    // Words that make a dotted or slashed number a version or a page, not a date. (Not "order"
    // or "ref": "Booking ref QX7-22931 confirmed for 12/09/2024" holds a date.)
    lower: &[
        "version", "ver", "v", "build", "release", "isbn", "page", "pages", "chapter", "section",
    ],
    boost: 0.2,
};

/// A calendar-valid day of a month (leap years counted when the year is known).
fn valid_ymd(y: Option<u64>, m: u64, d: u64) -> bool {
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => match y {
            Some(y) if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            Some(_) => 28,
            None => 29,
        },
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn check_iso(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let v = h.value();
    let (y, m, d) = (number(&v[..4]), number(&v[5..7]), number(&v[8..10]));
    if !(1800..=2199).contains(&y) || !valid_ymd(Some(y), m, d) {
        return None;
    }
    if v.len() > 10 {
        let t = &v[11..];
        let (hh, mm) = (number(&t[..2]), number(&t[3..5]));
        if hh > 23 || mm > 59 {
            // The date holds; the time does not.
            return Found::at(&h.with(h.start, h.start + 10), 0.75);
        }
    }
    Found::at(h, 0.75)
}

fn check_numeric(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let v = h.value();
    let sep = v.bytes().find(|b| !b.is_ascii_digit())?;
    let parts: Vec<&str> = v.split(sep as char).collect();
    if parts.len() != 3 {
        return None;
    }
    let (a, b, c) = (number(parts[0]), number(parts[1]), number(parts[2]));
    let year = if parts[2].len() == 4 { Some(c) } else { None };
    if parts[2].len() == 4 && !(1800..=2199).contains(&c) {
        return None;
    }
    let mdy = valid_ymd(year, a, b);
    let dmy = valid_ymd(year, b, a);
    if !(mdy || dmy) {
        return None;
    }
    // Dots with a two-digit year (`1.2.34`) are as often section numbers as dates.
    let score = match (sep, parts[2].len()) {
        (b'.', 2) => 0.4,
        (_, 4) => 0.7,
        _ => 0.55,
    };
    Found::at(h, score)
}

fn check_named(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let lower = h.value().to_ascii_lowercase();
    let (mut day, mut year) = (None, None);
    for s in lower
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
    {
        match s.len() {
            1 | 2 => day = Some(number(s)),
            4 => year = Some(number(s)),
            _ => return None,
        }
    }
    if day.is_some_and(|d| !(1..=31).contains(&d))
        || year.is_some_and(|y| !(1000..=2199).contains(&y))
    {
        return None;
    }
    // "may" is a verb and "mar" one too: without a year they must be capitalised.
    if year.is_none()
        && (lower.contains("may") || lower.contains("mar"))
        && !h.value().contains(['M'])
    {
        return None;
    }
    let score = match (day.is_some(), year.is_some()) {
        (true, true) => 0.85,
        (false, true) => 0.7,
        (true, false) => 0.6,
        (false, false) => return None,
    };
    Found::at(h, score)
}

fn check_weekday(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    // Capitalised as a weekday, or the whole text in one case.
    let first = h.value().chars().next()?;
    let all_lower = !h.text.chars().any(|c| c.is_uppercase());
    if !(first.is_uppercase() || all_lower) {
        return None;
    }
    Found::at(h, 0.55)
}

fn check_time(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let v = h.value();
    let (hh, rest) = v.split_once(':')?;
    let (hh, mm) = (number(hh), number(&rest[..2]));
    let ampm = v.to_ascii_lowercase().contains('m');
    if mm > 59 || (ampm && !(1..=12).contains(&hh)) || hh > 23 {
        return None;
    }
    Found::at(h, if ampm { 0.6 } else { 0.4 })
}

static YEAR_CONTEXT: Context = Context {
    raise: &[],
    lower: &[
        "bytes",
        "tokens",
        "rows",
        "lines",
        "words",
        "items",
        "people",
        "users",
        "km",
        "miles",
        "dollars",
        "euros",
        "units",
        "times",
        "ms",
        "calories",
        "points",
        "pages",
        "votes",
        "meters",
        "feet",
        "kg",
        "pixels",
        "px",
        "mb",
        "gb",
        "records",
        "students",
        "employees",
        "copies",
    ],
    boost: 0.0,
};

/// A year between 1900 and 2099 introduced by a word that makes it a year.
fn check_year(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() || h.after().is_some_and(|c| matches!(c, '%' | '$' | '€')) {
        return None;
    }
    if h.after() == Some('-') {
        return None; // "a 2048-bit key"
    }
    let y = number(h.value());
    if !(1900..=2099).contains(&y) {
        return None;
    }
    Found::at(h, 0.55)
}

static EXPIRY_CONTEXT: Context = Context {
    raise: &[
        "exp",
        "expiry",
        "expires",
        "expiration",
        "expiring",
        "valid",
        "thru",
        "through",
        "until",
        "good thru",
    ],
    lower: &[],
    boost: 0.4,
};

/// `MM/YY`, a card's expiry date: a date only when named as one.
fn check_month_year(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded() {
        return None;
    }
    let m = number(&h.value()[..2]);
    (1..=12).contains(&m).then_some(Found::at(h, 0.2)?)
}

pub fn date_time() -> RuleRecognizer {
    // The month-year branch comes first: leftmost-first alternation would otherwise take
    // "June 20" out of "June 2020".
    let named_mdy = format!(
        r"(?i-u:{MONTHS}\.?,?\s+[0-9]{{4}}|{MONTHS}\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?(?:,?\s+[0-9]{{4}})?)"
    );
    let named_dmy =
        format!(r"(?i-u:[0-9]{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTHS}\.?,?(?:\s+[0-9]{{4}})?)");
    RuleRecognizer::new(
        "pii.date_time",
        vec![
            Rule::new(
                "DATE_TIME",
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?",
                check_iso,
                &DATE_CONTEXT,
            ),
            Rule::new(
                "DATE_TIME",
                r"[0-9]{1,2}/[0-9]{1,2}/(?:[0-9]{4}|[0-9]{2})|[0-9]{1,2}\.[0-9]{1,2}\.(?:[0-9]{4}|[0-9]{2})|[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}",
                check_numeric,
                &DATE_CONTEXT,
            ),
            Rule::new("DATE_TIME", &named_mdy, check_named, &DATE_CONTEXT),
            Rule::new("DATE_TIME", &named_dmy, check_named, &DATE_CONTEXT),
            Rule::new(
                "DATE_TIME",
                r"(?i-u:monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
                check_weekday,
                &DATE_CONTEXT,
            ),
            Rule::new(
                "DATE_TIME",
                r"[0-9]{2}/[0-9]{2}",
                check_month_year,
                &EXPIRY_CONTEXT,
            ),
            Rule::new(
                "DATE_TIME",
                r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:\s?(?i-u:[ap]\.?m\.?))?",
                check_time,
                &DATE_CONTEXT,
            ),
            Rule::new(
                "DATE_TIME",
                r"(?i-u:\b(?:in|between|since|during|until|till|from|year|founded in|established in|born in|circa|by|before|after|of|a)\s+)([0-9]{4})",
                check_year,
                &YEAR_CONTEXT,
            ),
            // The second year of "between 2019 and 2021", "from 1990 to 1995".
            Rule::new(
                "DATE_TIME",
                r"(?i-u:\b(?:between|from) [0-9]{4} (?:and|to|until|till) )([0-9]{4})",
                check_year,
                &YEAR_CONTEXT,
            ),
        ],
    )
}
