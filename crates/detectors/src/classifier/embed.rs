//! Sentence embeddings for the classifier heads, with two caches.
//!
//! - At run time, one text often goes to several detectors (a guard checks an answer for
//!   refusal and harm; an eval scores both). [`embed`] keeps a small process-wide cache keyed
//!   by a hash of the encoder id and the text, bounded in size, so the encoder runs once.
//! - In training, [`embed_all`] embeds a whole data set in a fixed order and can keep the
//!   result in a file keyed by the hash of every text, so re-training skips the encoder. The
//!   file holds exactly what a fresh run computes (same texts, same order, same batches), so
//!   training gives the same weights with or without it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use emmental_core::{Embedder, ModelError};
use emmental_models::local::LocalEncoder;
use sha2::{Digest, Sha256};

/// Entries kept by the run-time cache (384 floats each: about 6 MB).
pub const CACHE_ENTRIES: usize = 4096;

/// A bounded first-in-first-out map from text hashes to embeddings.
struct Cache {
    map: HashMap<[u8; 16], Arc<[f32]>>,
    order: VecDeque<[u8; 16]>,
    capacity: usize,
}

impl Cache {
    fn insert(&mut self, key: [u8; 16], v: Arc<[f32]>) {
        if self.map.insert(key, v).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| {
    Mutex::new(Cache {
        map: HashMap::new(),
        order: VecDeque::new(),
        capacity: CACHE_ENTRIES,
    })
});

/// The cache key of `text` for an encoder and its forward pass (two passes of one model in a
/// process must not answer for each other).
fn key(encoder: &str, pass: &str, text: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(encoder.as_bytes());
    h.update([0]);
    h.update(pass.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    h.finalize()[..16].try_into().expect("16 bytes")
}

/// Embeds `texts`, taking what it can from the process-wide cache. Texts missing from the
/// cache are encoded together, shortest first, so each encoder batch pads little.
pub fn embed(encoder: &LocalEncoder, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, ModelError> {
    let keys: Vec<[u8; 16]> = texts
        .iter()
        .map(|t| key(encoder.id(), encoder.backend().tag(), t))
        .collect();
    let mut out: Vec<Option<Arc<[f32]>>> = {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().map(|k| cache.map.get(k).cloned()).collect()
    };
    let mut missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
    // One encoder call per distinct text.
    missing.sort_by_key(|&i| (texts[i].len(), keys[i]));
    missing.dedup_by_key(|i| keys[*i]);
    if !missing.is_empty() {
        // The encoder pads a batch to its longest text: texts of very different lengths go in
        // separate calls (a window of 40 words must not be padded to the 256-token text it
        // came from).
        let mut vectors = Vec::with_capacity(missing.len());
        for group in length_groups(&missing, |i| texts[i].len()) {
            let batch: Vec<String> = group.iter().map(|&i| texts[i].to_string()).collect();
            vectors.extend(encoder.embed_blocking(&batch)?);
        }
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        for (&i, v) in missing.iter().zip(vectors) {
            cache.insert(keys[i], Arc::from(v));
        }
        for (slot, k) in out.iter_mut().zip(&keys) {
            if slot.is_none() {
                *slot = cache.map.get(k).cloned();
            }
        }
        // A batch larger than the cache may have evicted its own entries; encode those again.
        if out.iter().any(Option::is_none) {
            drop(cache);
            let rest: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
            let batch: Vec<String> = rest.iter().map(|&i| texts[i].to_string()).collect();
            for (&i, v) in rest.iter().zip(encoder.embed_blocking(&batch)?) {
                out[i] = Some(Arc::from(v));
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|v| v.expect("every text embedded"))
        .collect())
}

/// Splits items already sorted by length into runs whose longest is at most twice the
/// shortest (lengths in bytes, a stand-in for tokens).
fn length_groups(sorted: &[usize], len: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for k in 1..=sorted.len() {
        if k == sorted.len() || len(sorted[k]) > 2 * len(sorted[start]).max(8) {
            groups.push(&sorted[start..k]);
            start = k;
        }
    }
    groups
}

/// File magic of the training cache.
const MAGIC: &[u8; 8] = b"EMBCACH1";

/// Embeds every text of a training set (distinct, in a fixed order) and returns a map from
/// text to vector. `cache_dir`, when given, keeps the result in a file named by the hash of
/// the encoder id, its forward pass and all texts; `progress` is called with (done, total) after each batch.
pub fn embed_all(
    encoder: &LocalEncoder,
    texts: &[String],
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<HashMap<String, Vec<f32>>, ModelError> {
    if texts.is_empty() {
        return Ok(HashMap::new());
    }
    let mut distinct: Vec<&String> = texts.iter().collect();
    // Length order makes batches of similar lengths (little padding); ties by text so the
    // order never depends on the input order.
    distinct.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    distinct.dedup();
    let mut h = Sha256::new();
    h.update(encoder.id().as_bytes());
    // The forward pass too: the passes agree to ~1e-5 (f32) or ~1e-3 (bf16), not bit for
    // bit, and a cache from another one would make training differ from a fresh machine's.
    h.update(encoder.backend().tag().as_bytes());
    for t in &distinct {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    let digest = hex::encode(&h.finalize()[..16]);
    let file: Option<PathBuf> = cache_dir.map(|d| d.join(format!("{digest}.emb")));
    let dim = encoder.dimension();
    if let Some(f) = &file
        && let Some(vectors) = read_cache(f, distinct.len(), dim)
    {
        return Ok(distinct.into_iter().cloned().zip(vectors).collect());
    }
    let mut vectors = Vec::with_capacity(distinct.len());
    let chunk = emmental_models::local::encoder::BATCH;
    for part in distinct.chunks(chunk) {
        let batch: Vec<String> = part.iter().map(|s| s.to_string()).collect();
        vectors.extend(encoder.embed_blocking(&batch)?);
        progress(vectors.len(), distinct.len());
    }
    if let Some(f) = &file {
        // A cache that cannot be written only costs time next run.
        let _ = write_cache(f, &vectors, dim);
    }
    Ok(distinct.into_iter().cloned().zip(vectors).collect())
}

fn read_cache(path: &Path, n: usize, dim: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    if body.len() != 16 + n * dim * 4 {
        return None;
    }
    let (hdr, data) = body.split_at(16);
    let rows = u64::from_le_bytes(hdr[..8].try_into().ok()?) as usize;
    let cols = u64::from_le_bytes(hdr[8..].try_into().ok()?) as usize;
    if rows != n || cols != dim {
        return None;
    }
    Some(
        data.chunks_exact(dim * 4)
            .map(|r| {
                r.chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect()
            })
            .collect(),
    )
}

fn write_cache(path: &Path, vectors: &[Vec<f32>], dim: usize) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut bytes = Vec::with_capacity(24 + vectors.len() * dim * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(vectors.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(dim as u64).to_le_bytes());
    for v in vectors {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    // Write then rename, so a killed run never leaves a half file that parses.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_forgets_the_oldest() {
        let mut c = Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: 2,
        };
        for i in 0..3u8 {
            c.insert([i; 16], Arc::from(vec![f32::from(i)]));
        }
        assert_eq!(c.map.len(), 2);
        assert!(!c.map.contains_key(&[0; 16]));
        assert!(c.map.contains_key(&[2; 16]));
    }

    #[test]
    fn training_cache_round_trips_and_rejects_other_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.emb");
        let v = vec![vec![1.0, -2.5], vec![0.125, 3.0]];
        write_cache(&p, &v, 2).unwrap();
        assert_eq!(read_cache(&p, 2, 2).unwrap(), v);
        assert!(read_cache(&p, 3, 2).is_none());
        assert!(read_cache(&p, 1, 4).is_none());
        std::fs::write(&p, b"garbage").unwrap();
        assert!(read_cache(&p, 2, 2).is_none());
    }

    #[test]
    fn length_groups_split_where_lengths_double() {
        let lens = [3usize, 10, 15, 20, 21, 80, 90];
        let idx: Vec<usize> = (0..lens.len()).collect();
        let g = length_groups(&idx, |i| lens[i]);
        assert_eq!(g, vec![&[0, 1, 2][..], &[3, 4][..], &[5, 6][..]]);
        assert!(length_groups(&[], |i| i).is_empty());
    }

    #[test]
    fn keys_depend_on_encoder_pass_and_text() {
        assert_ne!(key("a", "p", "x"), key("b", "p", "x"));
        assert_ne!(key("a", "p", "x"), key("a", "q", "x"));
        assert_ne!(key("a", "p", "x"), key("a", "p", "y"));
        assert_eq!(key("a", "p", "x"), key("a", "p", "x"));
    }
}
