//! Credentials with a recognisable format: cloud and API keys with a vendor prefix, PEM private
//! key blocks, JSON Web Tokens and passwords in URLs. Where a format carries a checksum (GitHub
//! and npm tokens: CRC-32 of the random part in Base62) it is checked, and a token that fails
//! it scores lower: a real token always passes, a made-up one rarely does.

use crate::pii::checksum;
use crate::pii::context::Context;
use crate::pii::rules::{Found, Hit, Rule, RuleRecognizer};

use super::entropy;

/// AWS's documented example keys and other published sample credentials: reported at the
/// threshold (see [`crate::pii::rules::EXAMPLE_SCORE`]).
fn is_documented_example(v: &str) -> bool {
    v.contains("EXAMPLE") || v == "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c" // the signature of jwt.io's sample token
}

/// A token body made of a few characters repeated (`AKIAXXXXXXXXXXXXXXXX`,
/// `AKIATESTTESTTESTTEST`): a placeholder, not a key.
fn low_variety(body: &str) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    for b in body.bytes() {
        seen.insert(b);
    }
    body.len() >= 8 && seen.len() <= 4
}

fn bounded(h: &Hit<'_>) -> bool {
    let glued = |c: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+' || c == '/')
    };
    !glued(h.before()) && !glued(h.after())
}

fn scored(h: &Hit<'_>, body: &str, score: f32) -> Option<Found> {
    if !bounded(h) || low_variety(body) || entropy::is_placeholder(body) {
        return None;
    }
    if is_documented_example(h.value()) {
        return Found::example(h);
    }
    Found::at(h, score)
}

fn check_aws_key_id(h: &Hit<'_>) -> Option<Found> {
    scored(h, &h.value()[4..], 0.9)
}

/// GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`) and npm (`npm_`) tokens end in six Base62
/// digits holding the CRC-32 of the 30 random characters before them.
pub fn token_checksum_ok(token: &str) -> bool {
    let Some((_, rest)) = token.split_once('_') else {
        return false;
    };
    if rest.len() != 36 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, check) = rest.split_at(30);
    checksum::base62_decode(check) == Some(u64::from(checksum::crc32(random.as_bytes())))
}

fn check_prefixed_crc(h: &Hit<'_>) -> Option<Found> {
    let body = h.value().split_once('_').map_or("", |(_, b)| b);
    scored(
        h,
        body,
        if token_checksum_ok(h.value()) {
            0.99
        } else {
            0.7
        },
    )
}

fn check_high(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    // The part after the vendor prefix (`glpat-`, `xoxb-`, `SG.`, `hf_`).
    let body = v.split_once(['_', '-', '.']).map_or(v, |(_, b)| b);
    scored(h, body, 0.9)
}

fn check_stripe(h: &Hit<'_>) -> Option<Found> {
    let live = h.value().contains("_live_");
    scored(h, &h.value()[8..], if live { 0.95 } else { 0.75 })
}

fn check_openai(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    // "T3BlbkFJ" is "OpenAI" in Base64: present in every key of the current formats.
    let score = if v.contains("T3BlbkFJ") { 0.99 } else { 0.8 };
    scored(h, &v[3..], score)
}

/// A PEM private key block, from `-----BEGIN … PRIVATE KEY-----` to its END line (or, when cut
/// off, to the end of the Base64 that follows). A block whose body is a placeholder (`...`,
/// `<key>`) holds no key.
fn check_private_key(h: &Hit<'_>) -> Option<Found> {
    let text = h.text;
    let header = h.value();
    let label = header
        .trim_start_matches("-----BEGIN ")
        .trim_end_matches('-');
    let end_marker = format!("-----END {label}-----");
    let rest = &text[h.end..];
    let (body, end) = match rest.find(&end_marker) {
        Some(i) => (&rest[..i], h.end + i + end_marker.len()),
        None => {
            // No END line: the block runs over the Base64 lines that follow.
            let mut len = 0;
            for line in rest.split_inclusive('\n') {
                let l = line.trim();
                let base64ish = !l.is_empty()
                    && l.bytes().all(|b| {
                        b.is_ascii_alphanumeric()
                            || matches!(b, b'+' | b'/' | b'=' | b':' | b'-' | b' ' | b',')
                    });
                if len > 0 && !base64ish {
                    break;
                }
                len += line.len();
            }
            (&rest[..len], h.end + rest[..len].trim_end().len())
        }
    };
    let key_material: String = body
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    if key_material.len() < 16 || entropy::is_placeholder(&key_material) {
        return None;
    }
    Some(Found {
        start: h.start,
        end,
        score: 1.0,
        pinned: false,
    })
}

/// Decodes Base64url (padding optional); `None` on other characters.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn check_jwt(h: &Hit<'_>) -> Option<Found> {
    if !bounded(h) {
        return None;
    }
    let v = h.value();
    let mut parts = v.split('.');
    let header = base64url_decode(parts.next()?)?;
    let header = String::from_utf8(header).ok()?;
    let payload = base64url_decode(parts.next()?)?;
    if !header.trim_start().starts_with('{')
        || !header.contains("\"alg\"")
        || !payload.starts_with(b"{")
    {
        return None;
    }
    let signature = parts.next()?;
    if is_documented_example(signature) {
        return Found::example(h);
    }
    Found::at(h, 0.9)
}

fn check_url_password(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    if entropy::is_placeholder(v)
        || v.eq_ignore_ascii_case("pass")
        || v.eq_ignore_ascii_case("pwd")
        || v.starts_with('$')
    {
        return None;
    }
    Found::at(h, 0.9)
}

fn check_bearer(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    if entropy::is_placeholder(v) || !entropy::is_random(v.trim_end_matches('=')) {
        return None;
    }
    Found::at(h, 0.8)
}

static NONE: Context = Context::NONE;

/// Vendor tokens and key formats.
pub fn known_formats() -> RuleRecognizer {
    RuleRecognizer::new(
        "secrets.formats",
        vec![
            Rule::new(
                "AWS_ACCESS_KEY",
                r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
                check_aws_key_id,
                &NONE,
            ),
            Rule::new(
                "GITHUB_TOKEN",
                r"gh[pousr]_[A-Za-z0-9]{36}",
                check_prefixed_crc,
                &NONE,
            ),
            Rule::new(
                "GITHUB_TOKEN",
                r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
                check_high,
                &NONE,
            ),
            Rule::new(
                "NPM_TOKEN",
                r"npm_[A-Za-z0-9]{36}",
                check_prefixed_crc,
                &NONE,
            ),
            Rule::new(
                "GITLAB_TOKEN",
                r"glpat-[A-Za-z0-9_\-]{20}",
                check_high,
                &NONE,
            ),
            Rule::new(
                "SLACK_TOKEN",
                r"xox[abposre]-[0-9A-Za-z\-]{10,250}",
                check_high,
                &NONE,
            ),
            Rule::new(
                "SLACK_WEBHOOK",
                r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
                check_high,
                &NONE,
            ),
            Rule::new(
                "STRIPE_KEY",
                r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,247}",
                check_stripe,
                &NONE,
            ),
            Rule::new(
                "GOOGLE_API_KEY",
                r"AIza[0-9A-Za-z_\-]{35}",
                check_high,
                &NONE,
            ),
            Rule::new(
                "OPENAI_API_KEY",
                r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,200}T3BlbkFJ[A-Za-z0-9_\-]{20,200}|sk-proj-[A-Za-z0-9_\-]{40,200}|sk-[A-Za-z0-9]{48}",
                check_openai,
                &NONE,
            ),
            Rule::new(
                "ANTHROPIC_API_KEY",
                r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,120}",
                check_high,
                &NONE,
            ),
            Rule::new("HUGGINGFACE_TOKEN", r"hf_[A-Za-z]{34}", check_high, &NONE),
            Rule::new(
                "SENDGRID_KEY",
                r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
                check_high,
                &NONE,
            ),
            Rule::new(
                "PRIVATE_KEY",
                r"-----BEGIN[A-Z0-9 ]{0,30} PRIVATE KEY(?: BLOCK)?-----",
                check_private_key,
                &NONE,
            ),
            Rule::new(
                "JWT",
                r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
                check_jwt,
                &NONE,
            ),
            Rule::new(
                "PASSWORD_IN_URL",
                r#"[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@'"<>]{1,100}:([^\s/@'"<>]{1,200})@[A-Za-z0-9\[]"#,
                check_url_password,
                &NONE,
            ),
            Rule::new(
                "SECRET",
                r"(?i-u:bearer|token)[ \t]+([A-Za-z0-9\-._~+/]{20,500}=*)",
                check_bearer,
                &NONE,
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_checksum_round_trip() {
        let random = "16C7e42F292c6912E7710c838347Ae";
        let check = checksum::base62_encode(u64::from(checksum::crc32(random.as_bytes())), 6);
        assert!(token_checksum_ok(&format!("ghp_{random}{check}")));
        assert!(!token_checksum_ok(&format!("ghp_{random}178B4a")));
        assert!(!token_checksum_ok("ghp_short"));
    }

    #[test]
    fn base64url() {
        assert_eq!(
            base64url_decode("eyJhbGciOiJIUzI1NiJ9").unwrap(),
            b"{\"alg\":\"HS256\"}"
        );
        assert_eq!(base64url_decode("TWE=").unwrap(), b"Ma");
        assert!(base64url_decode("a*b").is_none());
    }
}
