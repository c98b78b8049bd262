//! Reads a detect-secrets baseline (`.secrets.baseline`, as in Yelp's test fixtures) as span
//! data for `emmental detectors validate secrets`: each scanned file that exists next to the
//! baseline becomes one document, and each expected finding a gold span.
//!
//! A baseline stores findings as a file, a line number and the SHA-1 of the secret, not as
//! offsets. The secret is found again by hashing the substrings of its line (then of the whole
//! file, since files change after a baseline is written). Findings that cannot be found again
//! are left out and counted in [`Baseline::unlocated`]. detect-secrets' keyword plugin reports
//! the YAML tag of `key: !!binary VALUE` as a secret of its own; such tags are left out too,
//! since the value after them is expected as well.
//!
//! Finding types map to Emmental's: `Private Key` → `PRIVATE_KEY`, `Basic Auth Credentials` →
//! `PASSWORD_IN_URL`, `AWS Access Key` → `AWS_ACCESS_KEY`, …; the keyword and high-entropy
//! findings (`Secret Keyword`, `Hex/Base64 High Entropy String`) → `SECRET`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha1::{Digest, Sha1};

use crate::metrics::SpanDoc;
use crate::{DetectorError, Span};

#[derive(Deserialize)]
struct BaselineFile {
    results: BTreeMap<String, Vec<Finding>>,
    #[serde(default)]
    plugins_used: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Finding {
    #[serde(rename = "type")]
    kind: String,
    hashed_secret: String,
    line_number: usize,
}

/// A baseline read as span data.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub docs: Vec<SpanDoc>,
    /// The files named in the baseline, in document order.
    pub files: Vec<PathBuf>,
    /// Findings whose file is missing (file, line, type).
    pub missing_files: Vec<(String, usize, String)>,
    /// Findings whose secret is not in the file any more (file, line, type).
    pub unlocated: Vec<(String, usize, String)>,
}

/// Emmental's type for a detect-secrets finding type.
pub fn emmental_type(detect_secrets: &str) -> &'static str {
    match detect_secrets {
        "Private Key" => "PRIVATE_KEY",
        "Basic Auth Credentials" => "PASSWORD_IN_URL",
        "AWS Access Key" => "AWS_ACCESS_KEY",
        "Slack Token" => "SLACK_TOKEN",
        "JSON Web Token" => "JWT",
        "Stripe Access Key" => "STRIPE_KEY",
        "GitHub Token" => "GITHUB_TOKEN",
        "NPM tokens" => "NPM_TOKEN",
        "SendGrid API Key" => "SENDGRID_KEY",
        _ => "SECRET",
    }
}

fn sha1_hex(s: &str) -> String {
    hex::encode(Sha1::digest(s.as_bytes()))
}

/// The byte range of the substring of `line` whose SHA-1 is `hash`.
fn find_in_line(line: &str, hash: &str) -> Option<(usize, usize)> {
    let bounds: Vec<usize> = line
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(line.len()))
        .collect();
    for (a, &i) in bounds.iter().enumerate() {
        for &j in &bounds[a + 1..] {
            if sha1_hex(&line[i..j]) == hash {
                return Some((i, j));
            }
        }
    }
    None
}

/// The PEM block whose BEGIN line holds byte `at`: from `-----BEGIN` to the end of its END
/// line.
fn pem_block(text: &str, at: usize) -> Option<(usize, usize)> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let begin = line_start + text[line_start..].find("-----BEGIN ")?;
    let header_end = begin + text[begin..].find('\n').unwrap_or(text.len() - begin);
    let label = text[begin + "-----BEGIN ".len()..header_end]
        .trim()
        .trim_end_matches('-');
    let end_marker = format!("-----END {label}-----");
    let end = header_end + text[header_end..].find(&end_marker)? + end_marker.len();
    Some((begin, end))
}

/// Whether `body` is a detect-secrets baseline.
pub fn looks_like_baseline(body: &str) -> bool {
    let t = body.trim_start();
    t.starts_with('{') && t.contains("\"results\"") && t.contains("\"hashed_secret\"")
}

/// Reads the baseline at `path` (its text is `body`).
pub fn load(path: &Path, body: &str) -> Result<Baseline, DetectorError> {
    let parsed: BaselineFile = serde_json::from_str(body).map_err(|e| DetectorError::Data {
        path: path.to_path_buf(),
        line: e.line(),
        message: format!("not a detect-secrets baseline: {e}"),
    })?;
    let _ = parsed.plugins_used;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Baseline {
        docs: Vec::new(),
        files: Vec::new(),
        missing_files: Vec::new(),
        unlocated: Vec::new(),
    };
    for (file, findings) in &parsed.results {
        let fpath = dir.join(file);
        let Ok(text) = std::fs::read_to_string(&fpath) else {
            out.missing_files.extend(
                findings
                    .iter()
                    .map(|f| (file.clone(), f.line_number, f.kind.clone())),
            );
            continue;
        };
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let line_at = |n: usize| -> Option<(usize, &str)> {
            let start = *line_starts.get(n.checked_sub(1)?)?;
            let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
            Some((start, &text[start..end]))
        };
        // (start, end) → type; a specific type wins over SECRET on the same value.
        let mut spans: BTreeMap<(usize, usize), &'static str> = BTreeMap::new();
        for f in findings {
            let here = line_at(f.line_number)
                .and_then(|(s, l)| find_in_line(l, &f.hashed_secret).map(|(a, b)| (s + a, s + b)));
            let anywhere = || {
                (1..=line_starts.len()).find_map(|n| {
                    let (s, l) = line_at(n)?;
                    find_in_line(l, &f.hashed_secret).map(|(a, b)| (s + a, s + b))
                })
            };
            let Some((a, b)) = here.or_else(anywhere) else {
                out.unlocated
                    .push((file.clone(), f.line_number, f.kind.clone()));
                continue;
            };
            if text[a..b].starts_with("!!") {
                continue;
            }
            let t = emmental_type(&f.kind);
            // detect-secrets hashes a key block's header line; the secret is the whole block.
            let (a, b) = if t == "PRIVATE_KEY" {
                pem_block(&text, a).unwrap_or((a, b))
            } else {
                (a, b)
            };
            let e = spans.entry((a, b)).or_insert(t);
            if *e == "SECRET" {
                *e = t;
            }
        }
        let spans = spans
            .into_iter()
            .map(|((a, b), t)| Span::from_bytes(&text, a, b, t, 1.0))
            .collect();
        out.docs.push(SpanDoc { text, spans });
        out.files.push(fpath);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hashed_values_again_and_maps_types() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.env"), "x=1\npassword = hunter2pass\n").unwrap();
        let baseline = format!(
            r#"{{"results": {{"a.env": [{{"type": "Secret Keyword", "hashed_secret": "{}", "line_number": 2}},
                {{"type": "Hex High Entropy String", "hashed_secret": "{}", "line_number": 9}}],
               "gone.py": [{{"type": "Private Key", "hashed_secret": "00", "line_number": 1}}]}}}}"#,
            sha1_hex("hunter2pass"),
            sha1_hex("not in the file")
        );
        let p = dir.path().join(".secrets.baseline");
        std::fs::write(&p, &baseline).unwrap();
        assert!(looks_like_baseline(&baseline));
        let b = load(&p, &baseline).unwrap();
        assert_eq!(b.docs.len(), 1);
        let s = &b.docs[0].spans[0];
        assert_eq!(
            (s.text(&b.docs[0].text), s.kind.as_str()),
            ("hunter2pass", "SECRET")
        );
        assert_eq!(b.unlocated.len(), 1);
        assert_eq!(b.missing_files.len(), 1);
        assert_eq!(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
