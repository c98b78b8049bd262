//! How random a string looks: Shannon entropy against what a random string of the same length
//! and alphabet would have, and the placeholders and references that look like values but are
//! not secrets.

/// Shannon entropy in bits per character.
pub fn shannon(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The alphabet a value is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Hex,
    /// Base64, Base64url and other token alphabets (letters, digits, `+/=_-.`).
    Base64,
    Other,
}

pub fn alphabet(s: &str) -> Alphabet {
    if s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Alphabet::Hex
    } else if s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.'))
    {
        Alphabet::Base64
    } else {
        Alphabet::Other
    }
}

/// Whether `s` looks randomly generated: long enough, letters mixed with digits, and an entropy
/// of at least 80% of the most a string of its length and alphabet can have (a random 32-char
/// Base64 string has about 4.5 bits of a possible 5; `correct-horse-battery-staple` has 3.5 of a
/// possible 4.8). Fixed limits such as detect-secrets' 4.5 bits cannot be reached by short
/// strings at all.
pub fn is_random(s: &str) -> bool {
    let n = s.len();
    if n < 20 {
        return false;
    }
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = s.bytes().any(|b| b.is_ascii_alphabetic());
    if !has_digit || !has_alpha {
        return false;
    }
    let k: f64 = match alphabet(s) {
        Alphabet::Hex => 16.0,
        Alphabet::Base64 => 64.0,
        Alphabet::Other => return false,
    };
    let max = (n as f64).min(k).log2();
    shannon(s) >= 0.8 * max
}

/// Values that stand in for a secret: templates, references to one kept elsewhere, and the
/// words people write instead of one.
pub fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let t = lower.trim();
    if t.is_empty() || t.chars().all(|c| c == t.chars().next().unwrap_or(' ')) {
        return true; // "", "****", "xxxxxxxx"
    }
    // Templates and references: <your key>, {{ token }}, ${VAR}, $VAR, %VAR%, [REDACTED].
    let wrapped = |o: &str, c: &str| t.starts_with(o) && t.ends_with(c);
    if wrapped("<", ">")
        || wrapped("{", "}")
        || wrapped("[", "]")
        || wrapped("%", "%")
        || t.starts_with('$')
        || t.contains("{{")
        || t.contains("${")
    {
        return true;
    }
    if t.contains("xxx")
        || t.contains("***")
        || t.contains("...")
        || t.contains("your")
        || t.contains("redacted")
        || t.contains("placeholder")
    {
        return true;
    }
    const WORDS: &[&str] = &[
        "changeme",
        "change_me",
        "change-me",
        "changethis",
        "password",
        "passwd",
        "secret",
        "example",
        "sample",
        "dummy",
        "test",
        "testing",
        "todo",
        "tbd",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "empty",
        "foo",
        "bar",
        "foobar",
        "baz",
        "required",
        "optional",
        "string",
        "token",
        "key",
        "value",
        "n/a",
        "na",
        "fake",
        "mock",
        "default",
    ];
    WORDS.contains(&t)
}

/// Values that are code reading a secret from elsewhere, not the secret: `os.environ["X"]`,
/// `get_password()`, `settings.API_KEY`, `process.env.TOKEN`, a path or a URL.
pub fn is_reference(v: &str) -> bool {
    let t = v.trim();
    t.contains('(')
        || t.contains(')')
        || t.starts_with('/')
        || t.starts_with("./")
        || t.starts_with("~/")
        || t.contains("://")
        || t.starts_with("process.env")
        || t.starts_with("os.")
        || t.starts_with("env.")
        || t.starts_with("ENV[")
        || t.starts_with("self.")
        || t.starts_with("this.")
        || t.starts_with("config.")
        || t.starts_with("settings.")
        || t.starts_with("secrets.")
        || t.starts_with("vault:")
        || is_dotted_path(t)
}

/// `settings.API_KEY`, `detect_secrets.main:detect_secrets`, `app/models`: identifiers joined
/// by `.`, `:` or `/`, without digits: a name in code, not a literal.
fn is_dotted_path(t: &str) -> bool {
    let parts: Vec<&str> = t.split(['.', ':', '/']).collect();
    parts.len() >= 2
        && parts.iter().all(|p| is_identifier(p))
        && !t.bytes().any(|b| b.is_ascii_digit())
}

/// A programming-language identifier (`user_password`, `apiKey`).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_simple_strings() {
        assert_eq!(shannon(""), 0.0);
        assert_eq!(shannon("aaaa"), 0.0);
        assert!((shannon("ab") - 1.0).abs() < 1e-12);
        assert!((shannon("0123456789abcdef") - 4.0).abs() < 1e-12);
    }

    #[test]
    fn random_tokens_are_random_and_words_are_not() {
        assert!(is_random("gX69YO4CvBsVjzAwYxdGyDd30t5+9ez31gKATtj4"));
        assert!(is_random("ToCynx5Se4e2PtoZxEhW7lUJcOX15c54"));
        assert!(is_random("a2480a72004fc40d124495fd59f5b482034fbadd"));
        assert!(!is_random("correct-horse-battery-staple"));
        assert!(!is_random("getUserAccountSettingsForTenant"), "no digits");
        assert!(!is_random("abc123"), "too short");
        assert!(!is_random("aaaaaaaaaaaaaaaaaaaa1111111111"));
        assert!(!is_random("not a token at all, 12 words"));
    }

    #[test]
    fn placeholders_and_references() {
        for p in [
            "",
            "********",
            "xxxxxxxxxxxx",
            "<your-api-key>",
            "${DB_PASSWORD}",
            "$TOKEN",
            "{{ secret }}",
            "changeme",
            "YOUR_KEY_HERE",
            "%API_KEY%",
            "[REDACTED]",
            "sk-...",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for s in ["hunter2", "s3cr3t-Pa55", "gX69YO4CvBsVjzAwYxdGyDd30t5"] {
            assert!(!is_placeholder(s), "{s}");
        }
        for r in [
            "detect_secrets.main:detect_secrets",
            "os.environ[\"X\"]",
            "get_password()",
            "settings.API_KEY",
            "process.env.TOKEN",
            "/run/secrets/db",
            "https://vault/x",
        ] {
            assert!(is_reference(r), "{r}");
        }
        assert!(!is_reference("123456789a1234"));
        assert!(!is_reference("v1.2.3"), "digits: a literal");
    }
}
