//! Numbers that are personal only because of the words around them: ages ("a 35-year-old",
//! "I just turned 47", "aged 61") and postal codes ("ZIP: 394 13", "my postcode is SW1A 1AA").
//! Without those words a two-digit number is just a number, so these rules match the words
//! together with the number and report the number.

use super::context::Context;
use super::rules::{Found, Hit, Rule, RuleRecognizer, number};

static AGE_CONTEXT: Context = Context {
    raise: &[],
    lower: &[
        "degrees", "percent", "times", "minutes", "seconds", "hours", "days", "weeks", "months",
        "miles", "km", "points", "dollars", "euros", "pages", "page", "chapter",
    ],
    boost: 0.0,
};

fn check_age(h: &Hit<'_>) -> Option<Found> {
    if !h.number_bounded()
        || h.after()
            .is_some_and(|c| matches!(c, '%' | '°' | ':' | '$'))
    {
        return None;
    }
    let n = number(h.value());
    if n == 0 || n > 120 {
        return None;
    }
    Found::at(h, 0.85)
}

/// After "turned", "I'm", "she was": only numbers of ten and more are read as ages, since
/// "turn 2 left" and "I'm 5 minutes away" are far more common than "she turned 6".
fn check_age_after_verb(h: &Hit<'_>) -> Option<Found> {
    if number(h.value()) < 10 {
        return None;
    }
    check_age(h)
}

fn check_zip(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let v = h.value();
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    if digits < 3 {
        return None;
    }
    Found::at(h, 0.8)
}

/// UK postcodes and Canadian postal codes are distinctive enough to report with lower
/// confidence even without the word "postcode".
fn check_postcode_shape(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let v = h.value();
    if v != v.to_ascii_uppercase() {
        return None;
    }
    Found::at(h, 0.45)
}

static POSTCODE_CONTEXT: Context = Context {
    raise: &[
        "postcode",
        "post code",
        "postal code",
        "zip",
        "address",
        "street",
        "road",
        "london",
        "uk",
        "canada",
    ],
    lower: &[],
    boost: 0.3,
};

pub fn age() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.age",
        vec![
            Rule::new(
                "AGE",
                r"(?i-u:([0-9]{1,3})[ -]?(?:years?|yrs?)[ -]old)",
                check_age,
                &AGE_CONTEXT,
            ),
            Rule::new(
                "AGE",
                r"(?i-u:([0-9]{1,3}) ?y/?o(?-u:\b))",
                check_age,
                &AGE_CONTEXT,
            ),
            Rule::new(
                "AGE",
                r"(?i-u:\b(?:aged?|age of|age:) ([0-9]{1,3}))",
                check_age,
                &AGE_CONTEXT,
            ),
            Rule::new(
                "AGE",
                r"(?i-u:\b(?:turn(?:ed|s|ing)?|i'?m|i am|he'?s|she'?s|(?:he|she|i|they|we) (?:was|were)) ([0-9]{1,3}))",
                check_age_after_verb,
                &AGE_CONTEXT,
            ),
        ],
    )
}

pub fn zip_code() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.zip_code",
        vec![
            Rule::new(
                "ZIP_CODE",
                r"(?i-u:\b(?:zip|zip code|zipcode|postcode|post code|postal code|plz|cep)\s*(?:is|:|#|no\.?|number)?\s*(?:is\s*)?)([0-9]{3,5}(?:[ \-][0-9]{2,4})?|[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}|[A-Za-z][0-9][A-Za-z] ?[0-9][A-Za-z][0-9])",
                check_zip,
                &Context::NONE,
            ),
            Rule::new(
                "ZIP_CODE",
                r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}|[A-Z][0-9][A-Z] [0-9][A-Z][0-9]",
                check_postcode_shape,
                &POSTCODE_CONTEXT,
            ),
        ],
    )
}
