//! Payment cards (Luhn and issuer prefixes), IBANs (per-country length and mod-97) and
//! cryptocurrency addresses (Bitcoin Base58Check and Bech32/Bech32m, Ethereum with EIP-55).

use super::checksum;
use super::context::Context;
use super::rules::{EXAMPLE_SCORE, Found, Hit, Rule, RuleRecognizer, digit_groups};

/// Whether the issuer prefix (IIN) and length belong to a card scheme in circulation.
fn card_scheme(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let p = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let scheme = match (d[0], n) {
        (4, 13 | 16 | 19) => "visa",
        (3, 15) if matches!(p(2), 34 | 37) => "amex",
        (5, 16) if (51..=55).contains(&p(2)) => "mastercard",
        (2, 16) if (2221..=2720).contains(&p(4)) => "mastercard",
        (2, 16..=19) if (2200..=2204).contains(&p(4)) => "mir",
        (6, 16..=19) if p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65 => "discover",
        (6, 16..=19) if p(2) == 62 => "unionpay",
        (3, 16..=19) if (3528..=3589).contains(&p(4)) => "jcb",
        (2 | 1, 15) if p(4) == 2131 || p(4) == 1800 => "jcb",
        (3, 14..=19)
            if (300..=305).contains(&p(3))
                || p(2) == 36
                || p(2) == 38
                || p(2) == 39
                || p(3) == 309 =>
        {
            "diners"
        }
        (5 | 6, 12..=19) if p(2) == 50 || (56..=69).contains(&p(2)) => "maestro",
        _ => return None,
    };
    Some(scheme)
}

/// Card numbers published for testing payment systems: examples, nobody's card.
const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "30569309025904",
    "3566002020360505",
    "4222222222222",
];

static CARD_CONTEXT: Context = Context {
    raise: &[
        "card",
        "cc",
        "credit",
        "debit",
        "visa",
        "mastercard",
        "amex",
        "american express",
        "discover",
        "maestro",
        "jcb",
        "diners",
        "payment",
        "pay",
        "charge",
        "billing",
        "cardholder",
        "pan",
    ],
    lower: &[
        "order",
        "invoice",
        "tracking",
        "isbn",
        "imei",
        "serial",
        "phone",
        "tel",
        "fax",
        "ssn",
        "reference",
        "ref",
        "account",
        "iban",
        "id",
        "transaction",
        "confirmation",
        "booking",
        "ticket",
    ],
    boost: 0.35,
};

/// Scores one digit run: a card when it has a card's length, prefix and Luhn check digit.
/// Published test numbers score [`super::rules::EXAMPLE_SCORE`] (pinned by the caller).
fn card_score(value: &str, groups: &[(usize, usize)]) -> Option<f32> {
    let lens: Vec<usize> = groups.iter().map(|g| g.1 - g.0).collect();
    let d: Vec<u8> = value
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    if !(12..=19).contains(&d.len()) || !checksum::luhn(&d) {
        return None;
    }
    // Written in groups: 4-4-4-4, 4-6-5, 4-4-4-4-3 …, not 1-2-3 scraps.
    if lens.len() > 1 && (lens[0] < 4 || lens.iter().any(|&l| !(3..=7).contains(&l))) {
        return None;
    }
    // One digit repeated is a placeholder.
    if d.iter().all(|&x| x == d[0]) {
        return None;
    }
    let compact: String = d.iter().map(|&x| char::from(b'0' + x)).collect();
    if TEST_CARDS.contains(&compact.as_str()) {
        return Some(EXAMPLE_SCORE);
    }
    Some(if card_scheme(&d).is_some() { 0.9 } else { 0.45 })
}

fn check_card(h: &Hit<'_>) -> Option<Found> {
    if h.before().is_some_and(|c| c.is_alphanumeric() || c == '_') || !h.number_bounded() {
        return None;
    }
    let v = h.value();
    let seps: std::collections::BTreeSet<u8> = v.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if seps.len() > 1 {
        return None;
    }
    let groups = digit_groups(v, h.start);
    // The whole run, else the longest run of whole groups that is a card ("… 0933 2022").
    let mut best: Option<Found> = None;
    for len in (1..=groups.len()).rev() {
        for first in 0..=groups.len() - len {
            let gs = &groups[first..first + len];
            let (s, e) = (gs[0].0, gs[len - 1].1);
            // Part of a longer run only counts with a card issuer's prefix and length: "4526
            // 0181 5908" out of a mistyped 16-digit number is not a card.
            let part = len < groups.len();
            if let Some(score) = card_score(&h.text[s..e], gs)
                && (!part || score >= 0.9)
                && best.is_none_or(|b| score > b.score)
            {
                best = Some(Found {
                    start: s,
                    end: e,
                    score,
                    pinned: score == EXAMPLE_SCORE,
                });
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

static IBAN_CONTEXT: Context = Context {
    raise: &[
        "iban",
        "bank",
        "account",
        "transfer",
        "wire",
        "sepa",
        "bic",
        "swift",
        "payee",
        "beneficiary",
    ],
    lower: &[],
    boost: 0.1,
};

fn check_iban(h: &Hit<'_>) -> Option<Found> {
    // A failed candidate may hide an IBAN that starts at a later group ("ab12 GB82 WEST …").
    let v = h.value();
    std::iter::once(0)
        .chain(v.match_indices(' ').map(|(i, _)| i + 1))
        .find_map(|off| iban_at(&h.with(h.start + off, h.end)))
}

fn iban_at(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    let b = v.as_bytes();
    if b.len() < 4
        || !b[..2].iter().all(u8::is_ascii_alphabetic)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    if h.before().is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let country = v[..2].to_ascii_uppercase();
    let len = checksum::iban_length(&country)?;
    // Take exactly the country's length of characters, spaces allowed between groups.
    let mut taken = 0;
    let mut end = 0;
    for (i, c) in v.char_indices() {
        if c == ' ' {
            continue;
        }
        taken += 1;
        if taken == len {
            end = i + c.len_utf8();
            break;
        }
    }
    if taken < len {
        return None;
    }
    let h = h.with(h.start, h.start + end);
    if h.after().is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    let compact: String = h.value().chars().filter(|&c| c != ' ').collect();
    // All one case: `GB82WEST…` or `gb82west…`, not a word that happens to fit.
    let upper = compact.chars().any(|c| c.is_ascii_uppercase());
    let lower = compact.chars().any(|c| c.is_ascii_lowercase());
    if (upper && lower)
        || !checksum::iban_mod97(&compact)
        || matches!(&compact[2..4], "00" | "01" | "99")
    {
        return None;
    }
    Found::at(&h, 0.95)
}

static CRYPTO_CONTEXT: Context = Context {
    raise: &[
        "wallet", "bitcoin", "btc", "ethereum", "eth", "crypto", "address", "send", "deposit",
        "usdt", "token",
    ],
    lower: &[
        "hash",
        "tx",
        "txid",
        "transaction",
        "commit",
        "sha",
        "digest",
        "checksum",
    ],
    boost: 0.3,
};

fn check_btc_base58(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() || !checksum::base58_address(h.value()) {
        return None;
    }
    Found::at(h, 1.0)
}

fn check_bech32(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() || !checksum::segwit_address(h.value()) {
        return None;
    }
    Found::at(h, 1.0)
}

fn check_eth(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() {
        return None;
    }
    let hex = &h.value()[2..];
    let mixed =
        hex.bytes().any(|b| b.is_ascii_uppercase()) && hex.bytes().any(|b| b.is_ascii_lowercase());
    if mixed {
        // A mixed-case address carries an EIP-55 checksum: it must hold.
        return checksum::eip55(h.value()).then_some(Found::at(h, 1.0)?);
    }
    if hex.bytes().all(|b| b == b'0') {
        return None;
    }
    // 20 bytes of hex without a checksum: an address, or a hash written with 0x.
    Found::at(h, 0.6)
}

pub fn card() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.credit_card",
        vec![Rule::new(
            "CREDIT_CARD",
            r"[0-9]{2}(?:[ \-]?[0-9]){10,}",
            check_card,
            &CARD_CONTEXT,
        )],
    )
}

pub fn iban() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.iban",
        vec![Rule::new(
            "IBAN_CODE",
            r"(?i-u:[a-z]{2}[0-9]{2}(?: ?[a-z0-9]){11,30})",
            check_iban,
            &IBAN_CONTEXT,
        )],
    )
}

pub fn crypto() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.crypto",
        vec![
            Rule::new(
                "CRYPTO",
                r"[13][1-9A-HJ-NP-Za-km-z]{25,34}",
                check_btc_base58,
                &CRYPTO_CONTEXT,
            ),
            Rule::new(
                "CRYPTO",
                r"(?i-u:(?:bc|tb)1[02-9ac-hj-np-z]{8,87})",
                check_bech32,
                &CRYPTO_CONTEXT,
            ),
            Rule::new("CRYPTO", r"0x[0-9a-fA-F]{40}", check_eth, &CRYPTO_CONTEXT),
        ],
    )
}
