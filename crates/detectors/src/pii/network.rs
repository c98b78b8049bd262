//! E-mail addresses, URLs and domain names, IP addresses and MAC addresses.

use std::net::Ipv6Addr;

use super::context::Context;
use super::rules::{Found, Hit, Rule, RuleRecognizer};

/// Generic top-level domains common enough to trust in running text.
const GENERIC_TLDS: &[&str] = &[
    "com",
    "org",
    "net",
    "edu",
    "gov",
    "mil",
    "int",
    "info",
    "biz",
    "io",
    "co",
    "ai",
    "dev",
    "app",
    "xyz",
    "online",
    "site",
    "tech",
    "store",
    "shop",
    "blog",
    "cloud",
    "email",
    "live",
    "news",
    "media",
    "agency",
    "digital",
    "network",
    "solutions",
    "services",
    "company",
    "global",
    "world",
    "today",
    "studio",
    "design",
    "health",
    "bank",
    "law",
    "eu",
    "asia",
    "mobi",
    "museum",
    "travel",
    "jobs",
    "aero",
    "coop",
    "pro",
];

/// Country-code TLDs accepted for bare domains. Left out on purpose: codes that are also common
/// file extensions or code words (`py`, `rs`, `md`, `sh`, `pl`, `cc`, `so`, `id`, `is`, `me`,
/// `to`, `in`, `at`, `be`, `do`, `go`, `no`, `my`, `am`, `as`, `it`, `us`), which a `file.py` or
/// a `self.id` would otherwise trigger. Addresses with a scheme or `www.` accept any TLD.
const COUNTRY_TLDS: &[&str] = &[
    "uk", "de", "fr", "es", "nl", "ch", "se", "dk", "fi", "cz", "sk", "hu", "ro", "bg", "gr", "pt",
    "ie", "ru", "ua", "tr", "il", "cn", "jp", "kr", "tw", "hk", "sg", "au", "nz", "ca", "mx", "br",
    "ar", "cl", "za", "ng", "eg", "ke", "uy", "cy", "lu", "lt", "lv", "ee", "si", "hr", "rs", "ba",
    "mk", "al", "ma", "tn", "sa", "ae", "qa", "ir", "pk", "bd", "lk", "th", "vn", "ph", "pe", "ve",
    "ec", "bo", "py", "cr", "pa", "gt", "hn", "ni", "sv", "cu", "jm", "tt", "dz", "gh", "tz", "ug",
    "zw", "zm", "na", "bw", "mz", "is", "fo", "gl", "li", "mc", "sm", "va", "mt", "by", "md", "ge",
    "am", "az", "kz", "uz", "kg", "mn", "np", "mm", "kh", "la", "bn", "fj", "pg", "nc", "pf", "re",
    "gp", "mq",
];

/// Code-like country codes that bare domains never end in (see [`COUNTRY_TLDS`]).
const CODE_LIKE_TLDS: &[&str] = &[
    "py", "rs", "md", "sh", "pl", "cc", "so", "id", "is", "me", "to", "in", "at", "be", "do", "go",
    "no", "my", "am", "as", "it", "us",
];

fn bare_domain_tld(tld: &str) -> Option<f32> {
    let tld = tld.to_ascii_lowercase();
    if CODE_LIKE_TLDS.contains(&tld.as_str()) {
        return None;
    }
    if matches!(tld.as_str(), "com" | "org" | "net" | "edu" | "gov") {
        Some(0.55)
    } else if GENERIC_TLDS.contains(&tld.as_str()) || COUNTRY_TLDS.contains(&tld.as_str()) {
        Some(0.45)
    } else {
        None
    }
}

/// Domains reserved for documentation (RFC 2606 / 6761): addresses there are examples, not
/// anybody's data.
pub fn is_example_domain(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let reserved = [
        "example.com",
        "example.org",
        "example.net",
        "example",
        "test",
        "invalid",
        "localhost",
    ];
    reserved
        .iter()
        .any(|r| h == *r || h.ends_with(&format!(".{r}")))
}

static EMAIL_CONTEXT: Context = Context {
    raise: &["email", "e-mail", "mail", "contact", "write", "address"],
    lower: &[],
    boost: 0.05,
};

fn check_email(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    // A local part may not start or end with a dot, nor hold two in a row; the regex may have
    // swallowed leading dots of the sentence before.
    let lead = v.len() - v.trim_start_matches('.').len();
    let h = h.with(h.start + lead, h.end);
    let v = h.value();
    let (local, domain) = v.rsplit_once('@')?;
    if local.is_empty()
        || local.len() > 64
        || v.len() > 254
        || local.ends_with('.')
        || local.contains("..")
    {
        return None;
    }
    if h.before().is_some_and(|c| c.is_alphanumeric() || c == '@') {
        return None;
    }
    let tld = domain.rsplit('.').next()?;
    if is_example_domain(domain) {
        return Found::example(&h);
    }
    let score = if tld.len() == 2 || GENERIC_TLDS.contains(&tld.to_ascii_lowercase().as_str()) {
        0.95
    } else {
        0.7
    };
    Found::at(&h, score)
}

/// Trims what a URL in prose does not own: trailing punctuation and unbalanced closing
/// brackets (`(see https://x.org/a)` ends before the `)`).
fn trim_url(s: &str) -> usize {
    let mut end = s.len();
    loop {
        let Some(c) = s[..end].chars().next_back() else {
            return end;
        };
        let drop = match c {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '*' | '_' => true,
            ')' => s[..end].matches('(').count() < s[..end].matches(')').count(),
            ']' => s[..end].matches('[').count() < s[..end].matches(']').count(),
            _ => false,
        };
        if !drop {
            return end;
        }
        end -= c.len_utf8();
    }
}

/// The host of a URL body (after `scheme://`): no user info, port, path, query or fragment.
fn url_host(body: &str) -> &str {
    let authority = body.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    host.split(':').next().unwrap_or(host)
}

fn valid_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(char::is_alphabetic))
}

static URL_CONTEXT: Context = Context {
    raise: &[
        "website",
        "site",
        "homepage",
        "profile",
        "page",
        "url",
        "link",
        "visit",
        "blog",
        "portfolio",
    ],
    lower: &[],
    boost: 0.25,
};

fn check_url(h: &Hit<'_>) -> Option<Found> {
    if h.before()
        .is_some_and(|c| c.is_alphanumeric() || c == '@' || c == '.')
    {
        return None;
    }
    let end = h.start + trim_url(h.value());
    let h = h.with(h.start, end);
    let v = h.value();
    let body = match v.find("://") {
        Some(i) => &v[i + 3..],
        None => v,
    };
    let host = url_host(body);
    if !valid_host(host) {
        return None;
    }
    if is_example_domain(host) && !host.eq_ignore_ascii_case("localhost") {
        return Found::example(&h);
    }
    let score = if host.eq_ignore_ascii_case("localhost") {
        0.3
    } else {
        0.6
    };
    Found::at(&h, score)
}

fn check_domain(h: &Hit<'_>) -> Option<Found> {
    // Part of an e-mail address, a URL, a path or a dotted identifier: not a bare domain.
    if h.before().is_some_and(|c| {
        c.is_alphanumeric() || matches!(c, '@' | '.' | '/' | ':' | '_' | '-' | '$')
    }) || h
        .after()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '@' | '_' | '(' | '-'))
    {
        return None;
    }
    let end = h.start + trim_url(h.value());
    let h = h.with(h.start, end);
    let v = h.value();
    let host = v.split('/').next().unwrap_or(v);
    let tld = host.rsplit('.').next()?;
    let score = bare_domain_tld(tld)?;
    // `a.b.c.d.e` with one-letter labels is an abbreviation or a path, not a host.
    let labels: Vec<&str> = host.split('.').collect();
    if labels.iter().any(|l| l.is_empty())
        || labels[..labels.len() - 1].iter().all(|l| l.len() == 1)
    {
        return None;
    }
    // Identifiers in code (`config.Settings`, `os.Environ`) mix cases inside; host names are
    // written in one case per label, or capitalised.
    if !valid_host(host) {
        return None;
    }
    if is_example_domain(host) {
        return Found::example(&h);
    }
    Found::at(&h, score)
}

static IP_CONTEXT: Context = Context {
    raise: &[
        "ip",
        "ipv4",
        "ipv6",
        "address",
        "host",
        "server",
        "client",
        "connect",
        "connected",
        "ping",
        "from",
        "login",
        "logged",
        "gateway",
        "dns",
        "proxy",
        "loopback",
        "listen",
        "listening",
    ],
    lower: &[
        "version",
        "ver",
        "release",
        "build",
        "firmware",
        "v",
        "oid",
        "section",
        "chapter",
        "figure",
        "table",
        "step",
        "upgrade",
        "update",
        "downgrade",
        "install",
        "patch",
        "article",
        "paragraph",
    ],
    boost: 0.35,
};

fn check_ipv4(h: &Hit<'_>) -> Option<Found> {
    // A port may follow (`0.0.0.0:8080`); other separators followed by digits extend the number.
    let port = h.after() == Some(':') && h.after2().1.is_some_and(|c| c.is_ascii_digit());
    if !h.number_bounded_left() || !(port || h.number_bounded_right()) {
        return None;
    }
    let octets: Vec<&str> = h.value().split('.').collect();
    if octets.len() != 4 {
        return None;
    }
    for o in &octets {
        if o.is_empty()
            || o.len() > 3
            || (o.len() > 1 && o.starts_with('0'))
            || o.parse::<u16>().ok()? > 255
        {
            return None;
        }
    }
    Found::at(h, 0.75)
}

fn check_ipv6(h: &Hit<'_>) -> Option<Found> {
    let v = h.value();
    let trimmed = v.trim_end_matches(['.', ':']);
    // `::1`, but not a word ending in `:` such as `Note:`.
    let lead = if trimmed.starts_with("::") {
        0
    } else {
        v.len() - v.trim_start_matches(':').len()
    };
    if lead >= trimmed.len() {
        return None; // only colons and dots
    }
    let h = h.with(h.start + lead, h.start + trimmed.len());
    let v = h.value();
    if h.before()
        .is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '.')
        || h.after().is_some_and(|c| c.is_alphanumeric())
    {
        return None;
    }
    v.parse::<Ipv6Addr>().ok()?;
    let groups = v.split(':').filter(|g| !g.is_empty()).count();
    // A full address, or a compressed one with enough groups not to be `a::b` in code.
    let full = groups == 8 || (v.contains('.') && groups >= 6);
    if !(full || (v.contains("::") && (groups >= 2 || v == "::1"))) || v.contains(":::") {
        return None;
    }
    // Short compressed forms (`fe80::1`, `::1`) read as addresses only with context.
    Found::at(&h, if full || groups >= 3 { 0.8 } else { 0.4 })
}

static MAC_CONTEXT: Context = Context {
    raise: &[
        "mac", "hardware", "ethernet", "wifi", "wi-fi", "device", "adapter", "nic", "bssid",
    ],
    lower: &[],
    boost: 0.35,
};

fn check_mac(h: &Hit<'_>) -> Option<Found> {
    if !h.word_bounded() || h.after() == Some(':') || h.after() == Some('-') {
        return None;
    }
    let v = h.value();
    let sep = v.as_bytes()[2];
    if !v.bytes().skip(2).step_by(3).all(|b| b == sep) {
        return None;
    }
    // A run of one repeated digit pair (00:00:00:00:00:00) is a placeholder.
    let score = if v
        .bytes()
        .filter(|&b| b != sep)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        <= 1
    {
        0.3
    } else {
        0.5
    };
    Found::at(h, score)
}

pub fn email() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.email",
        vec![Rule::new(
            "EMAIL_ADDRESS",
            r"[\p{L}\p{N}._%+\-]+@(?:[\p{L}\p{N}](?:[\p{L}\p{N}\-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,24}",
            check_email,
            &EMAIL_CONTEXT,
        )],
    )
}

pub fn url() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.url",
        vec![
            Rule::new(
                "URL",
                r#"(?i-u:https?|ftp|wss?)://[^\s<>"'`{}|\\^\[\]]+|(?i-u:www)\.[^\s<>"'`{}|\\^\[\]]+"#,
                check_url,
                &URL_CONTEXT,
            ),
            Rule::new(
                "DOMAIN_NAME",
                r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,18}(?:/[^\s<>\x22'`]*)?",
                check_domain,
                &URL_CONTEXT,
            ),
        ],
    )
}

pub fn ip() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.ip",
        vec![
            Rule::new(
                "IP_ADDRESS",
                r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}",
                check_ipv4,
                &IP_CONTEXT,
            ),
            Rule::new(
                "IP_ADDRESS",
                r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{2,44}",
                check_ipv6,
                &IP_CONTEXT,
            ),
        ],
    )
}

pub fn mac() -> RuleRecognizer {
    RuleRecognizer::new(
        "pii.mac",
        vec![Rule::new(
            "MAC_ADDRESS",
            r"[0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}",
            check_mac,
            &MAC_CONTEXT,
        )],
    )
}
