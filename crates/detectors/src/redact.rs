//! Redaction: rewriting a text so that the spans a detector found no longer show. The principal
//! entry points are [`redact`] with an [`Operator`] and, for reversible pseudonymisation, a
//! [`Vault`].
//!
//! - [`Operator::Mask`] replaces each character with `*` (or another character), optionally
//!   keeping the last few: `**************3012`.
//! - [`Operator::Replace`] puts the entity type in its place: `<EMAIL_ADDRESS>`.
//! - [`Operator::Hash`] puts a keyed hash (HMAC-SHA256 with the caller's key, truncated hex):
//!   `<EMAIL_ADDRESS:9f2c1a3b5d7e9f01>`. The same value under the same key always gives the same
//!   hash, across runs and machines, so redacted logs can still be joined on it; without the key
//!   the hash cannot be reversed by trying every phone number.
//! - [`Vault::pseudonymize`] replaces each value with a numbered placeholder per type
//!   (`<PERSON_1>`, `<PERSON_2>` …; the same value always gets the same one) and remembers it, so
//!   [`Vault::restore`] can put the originals back into, say, a model's answer. The vault is
//!   serialisable (versioned JSON) and holds the original values: keep it as carefully as the
//!   data itself.
//!
//! Spans may overlap (two detectors, one stretch of text): overlapping spans are merged and the
//! merged region takes the type of its highest-scoring span. Offsets are taken in bytes or in
//! characters ([`Offsets`]); spans that fall outside the text or split a character are an error.
//!
//! ```
//! use emmental_detectors::Span;
//! use emmental_detectors::redact::{Offsets, Operator, Vault, redact};
//! let text = "Mail jane@acme.io today";
//! let spans = [Span::from_chars(text, 5, 17, "EMAIL_ADDRESS", 0.95)];
//! let r = redact(text, &spans, Offsets::Chars, &Operator::Replace).unwrap();
//! assert_eq!(r.text, "Mail <EMAIL_ADDRESS> today");
//! let mut vault = Vault::new();
//! let p = vault.pseudonymize(text, &spans, Offsets::Chars).unwrap();
//! assert_eq!(p.text, "Mail <EMAIL_ADDRESS_1> today");
//! assert_eq!(vault.restore("Sent to <EMAIL_ADDRESS_1>."), "Sent to jane@acme.io.");
//! ```

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{DetectorError, Span};

/// Which offsets of the given spans to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offsets {
    /// `byte_start..byte_end` (UTF-8).
    Bytes,
    /// `start..end` (Unicode scalar values), as JSON clients and validation files give them.
    Chars,
}

/// How each redacted region is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// Every character becomes `with`, except the last `keep_last` characters.
    Mask { with: char, keep_last: usize },
    /// The region becomes `<TYPE>`.
    Replace,
    /// The region becomes `<TYPE:hex>`, the first `hex_len` hex digits (at most 64) of
    /// HMAC-SHA256(key, value).
    Hash { key: Vec<u8>, hex_len: usize },
}

impl Operator {
    /// `*` over everything.
    pub fn mask() -> Self {
        Operator::Mask {
            with: '*',
            keep_last: 0,
        }
    }
    /// A keyed hash with 16 hex digits (64 bits).
    pub fn hash(key: impl Into<Vec<u8>>) -> Self {
        Operator::Hash {
            key: key.into(),
            hex_len: 16,
        }
    }
}

/// A redacted text and where the replacements lie in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redaction {
    pub text: String,
    /// The replaced regions, in offsets of the redacted text, with their types.
    pub spans: Vec<Span>,
}

fn err(message: impl Into<String>) -> DetectorError {
    DetectorError::Redact {
        message: message.into(),
    }
}

/// A region to rewrite: bytes of the original, its type.
#[derive(Debug, Clone)]
struct Region {
    start: usize,
    end: usize,
    kind: String,
    score: f32,
}

/// Checks the spans against `text`, converts them to byte ranges and merges overlaps.
fn regions(text: &str, spans: &[Span], offsets: Offsets) -> Result<Vec<Region>, DetectorError> {
    let char_count = if offsets == Offsets::Chars {
        text.chars().count()
    } else {
        0
    };
    let mut out: Vec<Region> = Vec::with_capacity(spans.len());
    for s in spans {
        let (start, end) = match offsets {
            Offsets::Bytes => {
                if s.byte_start > s.byte_end || s.byte_end > text.len() {
                    return Err(err(format!(
                        "span {}..{} ({}) does not fit a text of {} bytes",
                        s.byte_start,
                        s.byte_end,
                        s.kind,
                        text.len()
                    )));
                }
                if !text.is_char_boundary(s.byte_start) || !text.is_char_boundary(s.byte_end) {
                    return Err(err(format!(
                        "span {}..{} ({}) splits a character",
                        s.byte_start, s.byte_end, s.kind
                    )));
                }
                (s.byte_start, s.byte_end)
            }
            Offsets::Chars => {
                if s.start > s.end || s.end > char_count {
                    return Err(err(format!(
                        "span {}..{} ({}) does not fit a text of {char_count} characters",
                        s.start, s.end, s.kind
                    )));
                }
                let c = Span::from_chars(text, s.start, s.end, s.kind.clone(), s.score);
                (c.byte_start, c.byte_end)
            }
        };
        if start < end {
            out.push(Region {
                start,
                end,
                kind: placeholder_kind(&s.kind),
                score: s.score,
            });
        }
    }
    out.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Region> = Vec::with_capacity(out.len());
    for r in out {
        match merged.last_mut() {
            Some(last) if r.start < last.end => {
                let (len_r, len_last) = (r.end - r.start, last.end - last.start);
                if r.score > last.score || (r.score == last.score && len_r > len_last) {
                    last.kind = r.kind;
                    last.score = r.score;
                }
                last.end = last.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    Ok(merged)
}

/// A type name safe inside `<…>`: upper-case letters, digits and `_`.
fn placeholder_kind(kind: &str) -> String {
    let k: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if k.is_empty() { "ENTITY".into() } else { k }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Rewrites every region of `text` with `replace(region, value)`.
fn rewrite(
    text: &str,
    regions: &[Region],
    mut replace: impl FnMut(&Region, &str) -> String,
) -> Redaction {
    let mut out = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(regions.len());
    let mut pos = 0;
    let mut out_chars = 0;
    for r in regions {
        let before = &text[pos..r.start];
        out.push_str(before);
        out_chars += before.chars().count();
        let new = replace(r, &text[r.start..r.end]);
        let (b0, c0) = (out.len(), out_chars);
        out.push_str(&new);
        out_chars += new.chars().count();
        spans.push(Span {
            start: c0,
            end: out_chars,
            byte_start: b0,
            byte_end: out.len(),
            kind: r.kind.clone(),
            score: r.score,
        });
        pos = r.end;
    }
    out.push_str(&text[pos..]);
    Redaction { text: out, spans }
}

/// Redacts `spans` of `text` with `op`.
pub fn redact(
    text: &str,
    spans: &[Span],
    offsets: Offsets,
    op: &Operator,
) -> Result<Redaction, DetectorError> {
    if let Operator::Hash { key, hex_len } = op {
        if key.is_empty() {
            return Err(err(
                "the hash operator needs a non-empty key (an unkeyed hash of a phone number is reversed by trying them all)",
            ));
        }
        if !(1..=64).contains(hex_len) {
            return Err(err(format!(
                "hash length must be 1 to 64 hex digits, not {hex_len}"
            )));
        }
    }
    let regions = regions(text, spans, offsets)?;
    Ok(rewrite(text, &regions, |r, value| match op {
        Operator::Mask { with, keep_last } => {
            let n = value.chars().count();
            let keep = (*keep_last).min(n);
            let mut s: String = std::iter::repeat_n(*with, n - keep).collect();
            s.extend(value.chars().skip(n - keep));
            s
        }
        Operator::Replace => format!("<{}>", r.kind),
        Operator::Hash { key, hex_len } => {
            let h = hex::encode(hmac_sha256(key, value.as_bytes()));
            format!("<{}:{}>", r.kind, &h[..*hex_len])
        }
    }))
}

/// The current serialisation version of a [`Vault`].
pub const VAULT_VERSION: u32 = 1;

/// One remembered value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultEntry {
    pub placeholder: String,
    pub kind: String,
    pub value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultFile {
    version: u32,
    entries: Vec<VaultEntry>,
}

/// Reversible pseudonymisation: numbered placeholders per type, consistent within the vault.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vault {
    entries: Vec<VaultEntry>,
    by_value: HashMap<(String, String), usize>,
    by_placeholder: HashMap<String, usize>,
    counters: HashMap<String, usize>,
}

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<[A-Z0-9_]+_[0-9]+>").expect("placeholder pattern"));

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder of `value` as a `kind`, allocating the next number for a new value.
    pub fn placeholder(&mut self, kind: &str, value: &str) -> String {
        let kind = placeholder_kind(kind);
        if let Some(&i) = self.by_value.get(&(kind.clone(), value.to_string())) {
            return self.entries[i].placeholder.clone();
        }
        let n = self.counters.entry(kind.clone()).or_insert(0);
        *n += 1;
        let placeholder = format!("<{kind}_{n}>");
        self.insert(VaultEntry {
            placeholder: placeholder.clone(),
            kind,
            value: value.to_string(),
        });
        placeholder
    }

    fn insert(&mut self, e: VaultEntry) {
        let i = self.entries.len();
        self.by_value.insert((e.kind.clone(), e.value.clone()), i);
        self.by_placeholder.insert(e.placeholder.clone(), i);
        self.entries.push(e);
    }

    /// Replaces each span of `text` by its value's placeholder.
    pub fn pseudonymize(
        &mut self,
        text: &str,
        spans: &[Span],
        offsets: Offsets,
    ) -> Result<Redaction, DetectorError> {
        let regions = regions(text, spans, offsets)?;
        Ok(rewrite(text, &regions, |r, value| {
            self.placeholder(&r.kind, value)
        }))
    }

    /// Puts the original values back for every placeholder this vault issued; other text,
    /// including placeholders it never issued, is left as it is.
    pub fn restore(&self, text: &str) -> String {
        PLACEHOLDER
            .replace_all(text, |c: &regex::Captures<'_>| {
                let p = &c[0];
                match self.by_placeholder.get(p) {
                    Some(&i) => self.entries[i].value.clone(),
                    None => p.to_string(),
                }
            })
            .into_owned()
    }

    /// The remembered values, in the order they were first seen.
    pub fn entries(&self) -> &[VaultEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Versioned JSON: `{"version": 1, "entries": [{"placeholder", "kind", "value"}]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&VaultFile {
            version: VAULT_VERSION,
            entries: self.entries.clone(),
        })
        .expect("a vault serialises")
    }

    /// Reads [`Vault::to_json`]'s output; numbering continues after the highest number seen.
    pub fn from_json(json: &str) -> Result<Self, DetectorError> {
        let f: VaultFile =
            serde_json::from_str(json).map_err(|e| err(format!("vault does not parse: {e}")))?;
        if f.version != VAULT_VERSION {
            return Err(err(format!(
                "vault version {} is not supported (this build reads version {VAULT_VERSION})",
                f.version
            )));
        }
        let mut v = Vault::new();
        for e in f.entries {
            if placeholder_kind(&e.kind) != e.kind {
                return Err(err(format!(
                    "vault entry type `{}` is not a placeholder type",
                    e.kind
                )));
            }
            let n: usize = e
                .placeholder
                .strip_prefix(&format!("<{}_", e.kind))
                .and_then(|s| s.strip_suffix('>'))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    err(format!(
                        "vault entry {} does not match its type {}",
                        e.placeholder, e.kind
                    ))
                })?;
            if v.by_placeholder.contains_key(&e.placeholder) {
                return Err(err(format!("vault lists {} twice", e.placeholder)));
            }
            let c = v.counters.entry(e.kind.clone()).or_insert(0);
            *c = (*c).max(n);
            v.insert(e);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn placeholder_kinds_are_sanitised() {
        assert_eq!(placeholder_kind("email address"), "EMAIL_ADDRESS");
        assert_eq!(placeholder_kind(""), "ENTITY");
    }
}
