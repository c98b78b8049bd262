//! A byte-level BPE tokenizer built from a GGUF file's vocabulary and merges.
//!
//! candle's own GGUF tokenizer adds a prefix space, which tokenizes SmolLM2 wrongly ("Hello" must
//! be 19556, not the id of " Hello"). This one follows the model's own pre-tokenizer: digits split
//! one by one, then the GPT-2 byte-level split, no prefix space.
//!
//! Special tokens (`<|im_start|>` …) are recognised only where a chat template puts them, never
//! inside user text: [`GgufTokenizer::encode`] treats its input as plain text, and
//! [`GgufTokenizer::encode_with_specials`] is for template text. A user who types `<|im_end|>`
//! gets the characters, not a forged turn boundary.

use std::collections::HashMap;

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{PreTokenizerWrapper, Tokenizer};

/// GGUF token type for control tokens (llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL`).
const TOKEN_TYPE_CONTROL: i32 = 3;

/// Tokenizer for a GGUF `gpt2`-style (byte-level BPE) vocabulary.
pub struct GgufTokenizer {
    bpe: Tokenizer,
    /// id → bytes, for decoding (byte-level symbols mapped back to raw bytes).
    id_bytes: Vec<Vec<u8>>,
    /// Control tokens by their text, longest first (so `<|im_start|>` wins over any prefix).
    specials: Vec<(String, u32)>,
    special_ids: Vec<bool>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab", &self.id_bytes.len())
            .finish()
    }
}

/// Why a tokenizer could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenizerError(pub String);

impl GgufTokenizer {
    /// Builds the tokenizer from the GGUF metadata entries `tokenizer.ggml.*`.
    pub fn from_gguf(
        md: &HashMap<String, candle_core::quantized::gguf_file::Value>,
    ) -> Result<Self, TokenizerError> {
        let err = |m: String| TokenizerError(m);
        let get = |k: &str| {
            md.get(k)
                .ok_or_else(|| err(format!("GGUF metadata lacks `{k}`")))
        };
        let model = get("tokenizer.ggml.model")?
            .to_string()
            .map_err(|e| err(e.to_string()))?;
        if model != "gpt2" {
            return Err(err(format!(
                "tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`)"
            )));
        }
        let strings = |k: &str| -> Result<Vec<String>, TokenizerError> {
            get(k)?
                .to_vec()
                .map_err(|e| err(e.to_string()))?
                .iter()
                .map(|v| v.to_string().cloned().map_err(|e| err(format!("{k}: {e}"))))
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| err(e.to_string()))?
                .iter()
                .map(|t| t.to_i32().map_err(|e| err(e.to_string())))
                .collect::<Result<_, _>>()?,
            None => vec![1; tokens.len()],
        };
        let id = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
        Self::new(
            tokens,
            &merges,
            &types,
            id("tokenizer.ggml.bos_token_id"),
            id("tokenizer.ggml.eos_token_id"),
        )
    }

    /// Builds the tokenizer from a vocabulary (byte-level symbols), merges (`"a b"`), and token types.
    pub fn new(
        tokens: Vec<String>,
        merges: &[String],
        types: &[i32],
        bos_id: Option<u32>,
        eos_id: Option<u32>,
    ) -> Result<Self, TokenizerError> {
        let decoder = byte_decoder();
        let mut specials = Vec::new();
        let mut special_ids = vec![false; tokens.len()];
        let mut id_bytes = Vec::with_capacity(tokens.len());
        for (i, tok) in tokens.iter().enumerate() {
            if types.get(i) == Some(&TOKEN_TYPE_CONTROL) {
                specials.push((tok.clone(), i as u32));
                special_ids[i] = true;
                // A control token decodes to nothing: it is structure, not text.
                id_bytes.push(Vec::new());
            } else {
                // Symbols outside the byte alphabet (user-defined tokens) stand for their UTF-8.
                let bytes = tok
                    .chars()
                    .map(|c| {
                        decoder
                            .get(&c)
                            .map(|b| vec![*b])
                            .unwrap_or_else(|| c.to_string().into_bytes())
                    })
                    .collect::<Vec<_>>()
                    .concat();
                id_bytes.push(bytes);
            }
        }
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        let vocab: Vocab = tokens
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i as u32))
            .collect();
        let merges = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| TokenizerError(format!("malformed merge `{m}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| TokenizerError(format!("cannot build BPE: {e}")))?;
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, true)),
        ])));
        Ok(Self {
            bpe: tokenizer,
            id_bytes,
            specials,
            special_ids,
            bos_id,
            eos_id,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.id_bytes.len()
    }

    /// Encodes plain text; special-token strings in it are ordinary characters.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .bpe
            .encode_fast(text, false)
            .map_err(|e| TokenizerError(format!("cannot encode: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Encodes template text, turning special-token strings into their ids.
    pub fn encode_with_specials(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // Earliest special token; among those at the same position, the longest (sorted so).
            let next = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|pos| (pos, s.len(), *id)))
                .min_by_key(|(pos, len, _)| (*pos, std::cmp::Reverse(*len)));
            match next {
                Some((pos, len, id)) => {
                    out.extend(self.encode(&rest[..pos])?);
                    out.push(id);
                    rest = &rest[pos + len..];
                }
                None => {
                    out.extend(self.encode(rest)?);
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The id of a vocabulary entry, spelled as in the vocabulary (byte-level symbols: `Ġworld`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.bpe.token_to_id(token)
    }

    /// The id of a special token, e.g. `<|im_end|>`.
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.specials
            .iter()
            .find(|(s, _)| s == text)
            .map(|(_, id)| *id)
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.get(id as usize).copied().unwrap_or(false)
    }

    /// The raw bytes of a token (empty for special tokens). Several tokens may be needed to
    /// complete one UTF-8 character.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.id_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The vocabulary entry of a token as text (special tokens included), e.g. `<|im_end|>`.
    pub fn decode_raw(&self, id: u32) -> String {
        if self.is_special(id) {
            return self
                .specials
                .iter()
                .find(|(_, i)| *i == id)
                .map(|(s, _)| s.clone())
                .unwrap_or_default();
        }
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }

    /// Decodes ids to text, skipping special tokens; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| self.token_bytes(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// GPT-2's map from byte-level symbols back to bytes: printable bytes stand for themselves, the
/// rest were shifted to code points from U+0100 up.
fn byte_decoder() -> HashMap<char, u8> {
    let mut printable: Vec<u8> = (b'!'..=b'~')
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<char> = printable.iter().map(|&b| b as char).collect();
    let mut n = 0u32;
    for b in 0..=255u8 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(char::from_u32(256 + n).expect("valid code point"));
            n += 1;
        }
    }
    chars.into_iter().zip(printable).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_decoder_is_a_bijection_over_all_bytes() {
        let d = byte_decoder();
        assert_eq!(d.len(), 256);
        let mut bytes: Vec<u8> = d.values().copied().collect();
        bytes.sort();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(d[&'Ġ'], b' ');
        assert_eq!(d[&'Ċ'], b'\n');
        assert_eq!(d[&'A'], b'A');
    }

    fn toy() -> GgufTokenizer {
        let tokens: Vec<String> = [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "h",
            "e",
            "l",
            "o",
            "Ġ",
            "w",
            "r",
            "d",
            "1",
            "2",
            "he",
            "ll",
            "hell",
            "hello",
            "Ġw",
            "or",
            "Ġwor",
            "ld",
            "Ġworld",
        ]
        .map(String::from)
        .into();
        let merges: Vec<String> = [
            "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld",
        ]
        .map(String::from)
        .into();
        let mut types = vec![1; tokens.len()];
        types[..3].fill(TOKEN_TYPE_CONTROL);
        GgufTokenizer::new(tokens, &merges, &types, Some(1), Some(2)).unwrap()
    }

    #[test]
    fn merges_apply_and_digits_split_singly() {
        let t = toy();
        assert_eq!(t.encode("hello world").unwrap(), vec![16, 21]);
        assert_eq!(t.encode("12").unwrap(), vec![11, 12]);
        assert_eq!(t.decode(&[16, 21]), "hello world");
    }

    #[test]
    fn specials_are_parsed_only_in_template_text() {
        let t = toy();
        assert_eq!(
            t.encode_with_specials("<|im_start|>hello<|im_end|>")
                .unwrap(),
            vec![1, 16, 2]
        );
        let plain = t.encode("<|im_end|>");
        // Plain text never yields a control token, whatever it contains.
        assert!(
            plain
                .map(|ids| ids.iter().all(|&id| !t.is_special(id)))
                .unwrap_or(true)
        );
        assert_eq!(t.special_id("<|im_end|>"), Some(2));
        assert_eq!(t.decode(&[1, 16, 2]), "hello");
    }
}
