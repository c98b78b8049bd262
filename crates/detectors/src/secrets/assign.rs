//! Secrets by position: a value assigned to a key (`password = "…"`, `api_key: …`,
//! `export TOKEN=…`, `"client_secret": "…"`, `--password=…`) or a long random string quoted in
//! code. The key decides how much the value must prove:
//!
//! - a secret-named key (password, passwd, pwd, secret, token, credential, api/auth/access/
//!   private/client/signing key …): any literal that is not a placeholder or a reference to a
//!   secret kept elsewhere;
//! - any other key: only a value that looks randomly generated ([`entropy::is_random`]), and not
//!   for keys that name identifiers, hashes or versions (`id`, `uuid`, `sha`, `checksum` …);
//! - no key: a quoted random string of 24 characters or more with upper- and lower-case letters
//!   and digits.
//!
//! Bare (unquoted) values that are identifiers without digits (`password = user_password`) are
//! variables in code, not literals, and are skipped; so are calls, paths and URLs
//! ([`entropy::is_reference`]). Values are reported as `SECRET`, or `AWS_SECRET_KEY` for a
//! 40-character value of an AWS secret key.

use regex::Regex;

use super::entropy;
use crate::{DetectorError, Recognizer, Span};

/// How a key names its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Secret,
    Neutral,
    /// Identifiers, hashes, versions, settings about secrets (`token_type`, `max_tokens`).
    NotSecret,
}

/// Splits `dbPassword`, `DB_PASSWORD`, `db-password`, `db.password` into lower-case segments.
fn segments(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn key_kind(key: &str) -> KeyKind {
    let segs = segments(key);
    let has = |w: &str| segs.iter().any(|s| s == w);
    let last = segs.last().map(String::as_str).unwrap_or("");
    const NOT_SECRET_LAST: &[&str] = &[
        "id",
        "ids",
        "uuid",
        "guid",
        "url",
        "uri",
        "path",
        "file",
        "dir",
        "type",
        "name",
        "length",
        "len",
        "size",
        "count",
        "limit",
        "expiry",
        "expires",
        "expiration",
        "ttl",
        "timeout",
        "header",
        "field",
        "env",
        "var",
        "format",
        "enabled",
        "algorithm",
        "alg",
        "version",
        "prefix",
        "hint",
        "policy",
        "endpoint",
        "location",
        "usage",
        "tokens",
        "index",
        "idx",
        "label",
        "column",
        "region",
        "mode",
    ];
    const NOT_SECRET_ANY: &[&str] = &[
        "hash",
        "sha",
        "sha1",
        "sha256",
        "md5",
        "checksum",
        "digest",
        "etag",
        "commit",
        "revision",
        "rev",
        "public",
        "pub",
        "tokenizer",
        "max",
        "min",
        "num",
        "uuid",
        "integrity",
        "nonce",
        "salt",
        "fingerprint",
    ];
    const SECRET: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "pw",
        "secret",
        "secrets",
        "token",
        "credential",
        "credentials",
        "apikey",
        "privatekey",
        "contraseña",
        "contrasena",
        "mot",
        "kennwort",
        "passwort",
    ];
    const KEY_QUALIFIERS: &[&str] = &[
        "api",
        "auth",
        "access",
        "private",
        "priv",
        "client",
        "signing",
        "encryption",
        "master",
        "service",
        "account",
        "db",
        "database",
        "session",
        "app",
        "consumer",
        "secret",
        "license",
        "admin",
        "webhook",
    ];
    // `dbpass`, `rootpwd`, `adminpassword`: a password glued to what it is for.
    let glued_password = |s: &str| {
        (s.ends_with("pass") || s.ends_with("pwd") || s.ends_with("passwd"))
            && ![
                "bypass",
                "compass",
                "overpass",
                "underpass",
                "surpass",
                "trespass",
            ]
            .contains(&s)
    };
    let secretish = segs.iter().any(|s| {
        SECRET.contains(&s.as_str())
            || s.contains("password")
            || s.contains("secret")
            || glued_password(s)
    }) || (has("key") && segs.iter().any(|s| KEY_QUALIFIERS.contains(&s.as_str())));
    // `hashed_secret`, `secret_hash`: still secret-named (detect-secrets reports them).
    if secretish
        && !NOT_SECRET_LAST.contains(&last)
        && !has("public")
        && !has("tokenizer")
        && !has("max")
    {
        return KeyKind::Secret;
    }
    if NOT_SECRET_LAST.contains(&last) || segs.iter().any(|s| NOT_SECRET_ANY.contains(&s.as_str()))
    {
        return KeyKind::NotSecret;
    }
    KeyKind::Neutral
}

fn is_aws_secret_key(key: &str, value: &str) -> bool {
    let segs = segments(key);
    segs.iter().any(|s| s == "aws")
        && segs.iter().any(|s| s == "secret")
        && value.len() == 40
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
}

/// Scores a value assigned to `key`; `None` when it is not a secret.
fn score(key: &str, value: &str, quoted: bool) -> Option<(&'static str, f32)> {
    if entropy::is_placeholder(value) || entropy::is_reference(value) {
        return None;
    }
    // An unquoted identifier without digits is a variable in code.
    if !quoted && entropy::is_identifier(value) && !value.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let random = entropy::is_random(value);
    match key_kind(key) {
        KeyKind::Secret => {
            if is_aws_secret_key(key, value) {
                return Some((
                    "AWS_SECRET_KEY",
                    if value.contains("EXAMPLE") { 0.5 } else { 0.95 },
                ));
            }
            if value.len() < 4 || value.len() > 300 || value.contains(' ') && !quoted {
                return None;
            }
            Some((
                "SECRET",
                if random {
                    0.95
                } else if quoted {
                    0.8
                } else {
                    0.75
                },
            ))
        }
        KeyKind::Neutral if random => {
            // Hex values of generic keys are as often hashes as secrets.
            let hex = entropy::alphabet(value) == entropy::Alphabet::Hex;
            Some(("SECRET", if hex { 0.55 } else { 0.7 }))
        }
        _ => None,
    }
}

/// The assignment recognizer.
pub struct Assignments {
    assign: Regex,
    quoted: Regex,
}

impl Default for Assignments {
    fn default() -> Self {
        Self::new()
    }
}

impl Assignments {
    pub fn new() -> Self {
        let assign = Regex::new(concat!(
            r#"(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,80})["']?[ \t]*(?P<op>:=|=>|==|!=|=|:)[ \t]*(?:!!binary[ \t]+)?"#,
            r#"(?:"(?P<dq>[^"\n]{1,300})"|'(?P<sq>[^'\n]{1,300})'|`(?P<bq>[^`\n]{1,300})`|(?P<bare>[^\s"'`,;#:\]\}\)][^\s"'`,;#\]\}\)]{0,299}))"#,
        ))
        .expect("assignment pattern");
        let quoted = Regex::new(r#""([A-Za-z0-9+/=_\-]{24,300})"|'([A-Za-z0-9+/=_\-]{24,300})'"#)
            .expect("quoted pattern");
        Self { assign, quoted }
    }
}

impl Recognizer for Assignments {
    fn id(&self) -> &str {
        "secrets.assignments"
    }

    fn types(&self) -> Vec<String> {
        vec!["SECRET".into(), "AWS_SECRET_KEY".into()]
    }

    fn recognize(&self, text: &str) -> Result<Vec<Span>, DetectorError> {
        let mut out = Vec::new();
        // Values already judged as assignments: a quoted id is not a free-standing secret.
        let mut judged: Vec<(usize, usize)> = Vec::new();
        for c in self.assign.captures_iter(text) {
            let key = &c["key"];
            let (m, quoted) = match (c.name("dq"), c.name("sq"), c.name("bq"), c.name("bare")) {
                (Some(m), ..) | (_, Some(m), ..) | (_, _, Some(m), _) => (m, true),
                (_, _, _, Some(m)) => (m, false),
                _ => continue,
            };
            // `https://…`: a scheme, not a key.
            if &c["op"] == ":" && m.as_str().starts_with("//") {
                continue;
            }
            judged.push((m.start(), m.end()));
            let value = m.as_str().trim();
            let lead = m.as_str().len() - m.as_str().trim_start().len();
            if let Some((kind, s)) = score(key, value, quoted) {
                let start = m.start() + lead;
                out.push(Span::from_bytes(text, start, start + value.len(), kind, s));
            }
        }
        for c in self.quoted.captures_iter(text) {
            let Some(m) = c.get(1).or_else(|| c.get(2)) else {
                continue;
            };
            if judged.iter().any(|&(a, b)| a <= m.start() && m.end() <= b) {
                continue;
            }
            let v = m.as_str();
            let mixed = v.bytes().any(|b| b.is_ascii_uppercase())
                && v.bytes().any(|b| b.is_ascii_lowercase());
            if mixed && entropy::is_random(v) && !entropy::is_placeholder(v) {
                out.push(Span::from_bytes(text, m.start(), m.end(), "SECRET", 0.55));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_split_and_classified() {
        assert_eq!(segments("dbPassword"), ["db", "password"]);
        assert_eq!(
            segments("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
        assert_eq!(key_kind("DB_PASSWORD"), KeyKind::Secret);
        assert_eq!(key_kind("apiKey"), KeyKind::Secret);
        assert_eq!(key_kind("client-secret"), KeyKind::Secret);
        assert_eq!(key_kind("hashed_secret"), KeyKind::Secret);
        assert_eq!(key_kind("public_key"), KeyKind::NotSecret);
        assert_eq!(key_kind("max_tokens"), KeyKind::NotSecret);
        assert_eq!(key_kind("token_type"), KeyKind::NotSecret);
        assert_eq!(key_kind("foreign_key_id"), KeyKind::NotSecret);
        assert_eq!(key_kind("commit_sha"), KeyKind::NotSecret);
        assert_eq!(key_kind("passport"), KeyKind::Neutral);
        assert_eq!(key_kind("dbpass"), KeyKind::Secret);
        assert_eq!(key_kind("bypass"), KeyKind::Neutral);
        assert_eq!(key_kind("color"), KeyKind::Neutral);
    }

    fn found(text: &str) -> Vec<(String, String)> {
        Assignments::new()
            .recognize(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.kind.clone(), s.text(text).to_string()))
            .collect()
    }

    #[test]
    fn finds_values_of_secret_keys_and_random_values() {
        assert_eq!(
            found("password = 123456789a1234"),
            [("SECRET".into(), "123456789a1234".into())]
        );
        assert_eq!(
            found("export GH_TOKEN=s3cr3t-v4lue"),
            [("SECRET".into(), "s3cr3t-v4lue".into())]
        );
        assert_eq!(
            found(r#"{"client_secret": "hunter2!"}"#),
            [("SECRET".into(), "hunter2!".into())]
        );
        assert_eq!(
            found("mimi=gX69YO4CvBsVjzAwYxdGyDd30t5+9ez31gKATtj4").len(),
            1
        );
        assert_eq!(
            found("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzKEYab1Qx"),
            [(
                "AWS_SECRET_KEY".into(),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzKEYab1Qx".into()
            )]
        );
        assert_eq!(
            found("client = Client('Xk92mQp4LzR7vT1wY8sN3bC6dF0h')").len(),
            1
        );
    }

    #[test]
    fn skips_placeholders_references_variables_and_ids() {
        for t in [
            "password = ${DB_PASSWORD}",
            "password: changeme",
            "api_key = os.environ['API_KEY']",
            "password = user_password",
            "token = get_token()",
            "password=<your password>",
            "commit_sha = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            "uuid: '203db13e-70c7-462b-9a3d-bf32640cb0be'",
            "max_tokens = 4096",
            "allowlisted_id: 'ToCynx5Se4e2PtoZxEhW7lUJcOX15c54'",
            "url: https://example.org/a",
            "color = blue",
            "Note: the password is in the vault.",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
