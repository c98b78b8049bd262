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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};

use emmental_core::{Embedder, ModelError};
use emmental_models::local::LocalEncoder;
use sha2::{Digest, Sha256};

/// Entries kept by the run-time cache (384 floats each: about 6 MB).
pub const CACHE_ENTRIES: usize = 4096;

/// A bounded first-in-first-out map from text hashes to embeddings, and the texts being
/// encoded right now.
struct Cache {
    map: HashMap<[u8; 16], Arc<[f32]>>,
    order: VecDeque<[u8; 16]>,
    capacity: usize,
    /// Texts some call is encoding: another call that needs one waits for it rather than
    /// encoding it a second time (two layers judging one answer at once; a guard's early
    /// look at a prompt that an output layer then needs).
    pending: HashMap<[u8; 16], Arc<Pending>>,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            pending: HashMap::new(),
        }
    }

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

/// One text in flight: set done (whether it was encoded or failed) and wakes its waiters.
#[derive(Default)]
struct Pending {
    done: Mutex<bool>,
    woken: Condvar,
}

impl Pending {
    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.woken.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn finish(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.woken.notify_all();
    }
}

/// The texts one call claimed: released when it ends, encoded or not (an error or a panic
/// must not leave other calls waiting for ever).
struct Claim<'a> {
    cache: &'a Mutex<Cache>,
    keys: Vec<[u8; 16]>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            if let Some(p) = cache.pending.remove(k) {
                p.finish();
            }
        }
    }
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::new(CACHE_ENTRIES)));

/// Texts [`embed`] has sent to the encoder in this process.
static ENCODED: AtomicU64 = AtomicU64::new(0);

/// How many texts [`embed`] has sent to the encoder in this process (what its cache did not
/// answer): for tests and diagnostics.
pub fn texts_encoded() -> u64 {
    ENCODED.load(Ordering::Relaxed)
}

/// Whether the run-time cache holds `text`'s embedding by `encoder` (a text being encoded
/// right now is not there yet).
pub fn is_cached(encoder: &LocalEncoder, text: &str) -> bool {
    let k = key(encoder.id(), encoder.backend().tag(), text);
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map
        .contains_key(&k)
}

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
/// cache are encoded together in one pass (an encoder that pads its batches gets them in
/// runs of similar length, shortest first, so each batch pads little); a text another call is
/// encoding at the moment is waited for, not encoded twice.
pub fn embed(encoder: &LocalEncoder, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, ModelError> {
    let keys: Vec<[u8; 16]> = texts
        .iter()
        .map(|t| key(encoder.id(), encoder.backend().tag(), t))
        .collect();
    let pads = encoder.backend().pads_batches();
    through_cache(
        &CACHE,
        &keys,
        // Without padding every text counts as one length: one group, one pass.
        |i| if pads { texts[i].len() } else { 1 },
        |batch: &[usize]| {
            let batch: Vec<String> = batch.iter().map(|&i| texts[i].to_string()).collect();
            ENCODED.fetch_add(batch.len() as u64, Ordering::Relaxed);
            encoder.embed_blocking(&batch)
        },
    )
}

/// [`embed`] over `cache`, for the texts whose keys are `keys`: `len(i)` is text `i`'s length
/// (for batching), `encode` embeds the texts of the given indices.
fn through_cache<E>(
    cache: &Mutex<Cache>,
    keys: &[[u8; 16]],
    len: impl Fn(usize) -> usize,
    mut encode: impl FnMut(&[usize]) -> Result<Vec<Vec<f32>>, E>,
) -> Result<Vec<Arc<[f32]>>, E> {
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<Option<Arc<[f32]>>> = {
        let cache = lock();
        keys.iter().map(|k| cache.map.get(k).cloned()).collect()
    };
    let mut missing: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
    if missing.is_empty() {
        return Ok(out.into_iter().map(|v| v.expect("cached")).collect());
    }
    // One encoder call per distinct text.
    missing.sort_by_key(|&i| (len(i), keys[i]));
    missing.dedup_by_key(|i| keys[*i]);
    // A rayon worker never waits: it encodes the text again instead. (When the encoder's
    // passes ran on rayon's pool, the call it waited for could need this very worker; they
    // now run on their caller's thread and the encoder's own helpers, but a worker of a
    // caller's parallel batch is still better kept busy than asleep.)
    let may_wait = rayon::current_thread_index().is_none();
    // `mine`: the texts this call encodes; `claimed`: those of them no other call is encoding,
    // which others may now wait for.
    let (mine, claimed, waits) = {
        let mut cache = lock();
        let (mut mine, mut claimed, mut waits) = (Vec::new(), Vec::new(), Vec::new());
        for &i in &missing {
            if let Some(v) = cache.map.get(&keys[i]) {
                out[i] = Some(v.clone());
            } else if let Some(p) = cache.pending.get(&keys[i]) {
                if may_wait {
                    waits.push(p.clone());
                } else {
                    mine.push(i);
                }
            } else {
                cache.pending.insert(keys[i], Arc::default());
                claimed.push(keys[i]);
                mine.push(i);
            }
        }
        (mine, claimed, waits)
    };
    if !mine.is_empty() {
        let claim = Claim {
            cache,
            keys: claimed,
        };
        // An encoder that pads a batch to its longest text gets texts of very different
        // lengths in separate calls (a window of 40 words must not be padded to the 256-token
        // text it came from); `len` is constant for one that does not.
        let mut vectors = Vec::with_capacity(mine.len());
        for group in length_groups(&mine, &len) {
            vectors.extend(encode(group)?);
        }
        let mut cache = lock();
        for (&i, v) in mine.iter().zip(vectors) {
            cache.insert(keys[i], Arc::from(v));
        }
        drop(cache);
        drop(claim);
    }
    for p in waits {
        p.wait();
    }
    {
        let cache = lock();
        for (slot, k) in out.iter_mut().zip(keys) {
            if slot.is_none() {
                *slot = cache.map.get(k).cloned();
            }
        }
    }
    // A batch larger than the cache may have evicted its own entries, and a call waited for
    // may have failed: encode those here.
    let rest: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
    if !rest.is_empty() {
        let vectors = encode(&rest)?;
        let mut cache = lock();
        for (&i, v) in rest.iter().zip(vectors) {
            let v: Arc<[f32]> = Arc::from(v);
            cache.insert(keys[i], v.clone());
            out[i] = Some(v);
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
        let mut c = Cache::new(2);
        for i in 0..3u8 {
            c.insert([i; 16], Arc::from(vec![f32::from(i)]));
        }
        assert_eq!(c.map.len(), 2);
        assert!(!c.map.contains_key(&[0; 16]));
        assert!(c.map.contains_key(&[2; 16]));
    }

    type Held<'s> = std::thread::ScopedJoinHandle<'s, Result<Vec<Arc<[f32]>>, &'static str>>;

    /// Runs `through_cache` for one key on another thread with an encoder that announces it
    /// has started and then waits for `release`: the key stays claimed until then.
    fn hold_claim<'s>(
        scope: &'s std::thread::Scope<'s, '_>,
        cache: &'s Mutex<Cache>,
        k: [u8; 16],
        result: Result<f32, &'static str>,
    ) -> (Held<'s>, std::sync::mpsc::Sender<()>) {
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let h = scope.spawn(move || {
            through_cache(
                cache,
                &[k],
                |_| 1,
                |_| {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    result.map(|x| vec![vec![x]])
                },
            )
        });
        started.recv().unwrap();
        (h, release)
    }

    /// `through_cache` for `k` alone, with an encoder that answers `[x]`.
    fn through_cache_as(
        cache: &Mutex<Cache>,
        k: [u8; 16],
        x: f32,
    ) -> Result<Vec<Arc<[f32]>>, &'static str> {
        through_cache(cache, &[k], |_| 1, |b| Ok(vec![vec![x]; b.len()]))
    }

    /// Returns once some call waits for `k` (holds a second reference to its entry).
    fn until_waited_for(cache: &Mutex<Cache>, k: [u8; 16]) {
        while cache.lock().unwrap().pending.get(&k).map(Arc::strong_count) != Some(2) {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_text_in_flight_is_waited_for_not_encoded_twice() {
        let cache = Mutex::new(Cache::new(8));
        let k = [7u8; 16];
        let calls = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let (first, release) = hold_claim(s, &cache, k, Ok(1.0));
            let second = s.spawn(|| {
                through_cache(
                    &cache,
                    &[k, [8; 16]],
                    |_| 1,
                    |b| {
                        calls.fetch_add(b.len(), Ordering::SeqCst);
                        Ok::<_, &str>(vec![vec![2.0]; b.len()])
                    },
                )
            });
            until_waited_for(&cache, k);
            release.send(()).unwrap();
            assert_eq!(&*first.join().unwrap().unwrap()[0], &[1.0]);
            let got = second.join().unwrap().unwrap();
            // The second call encoded only its other text and took the first call's vector.
            assert_eq!(&*got[0], &[1.0]);
            assert_eq!(&*got[1], &[2.0]);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cache.lock().unwrap().pending.is_empty());
    }

    #[test]
    fn a_failed_call_releases_its_texts_and_the_waiter_encodes_them() {
        let cache = Mutex::new(Cache::new(8));
        let k = [9u8; 16];
        std::thread::scope(|s| {
            let (first, release) = hold_claim(s, &cache, k, Err("encoder failed"));
            let second = s.spawn(|| through_cache_as(&cache, k, 3.0));
            until_waited_for(&cache, k);
            release.send(()).unwrap();
            assert_eq!(first.join().unwrap().unwrap_err(), "encoder failed");
            assert_eq!(&*second.join().unwrap().unwrap()[0], &[3.0]);
        });
        assert!(cache.lock().unwrap().pending.is_empty());
        assert_eq!(&*cache.lock().unwrap().map[&k], &[3.0]);
    }

    #[test]
    fn a_rayon_worker_encodes_a_text_in_flight_itself() {
        let cache = Mutex::new(Cache::new(8));
        let k = [10u8; 16];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        std::thread::scope(|s| {
            let (first, release) = hold_claim(s, &cache, k, Ok(1.0));
            // Waiting here could deadlock a pass that needs this worker; it must not wait.
            let got = pool.install(|| through_cache_as(&cache, k, 4.0));
            assert_eq!(&*got.unwrap()[0], &[4.0]);
            // It did not take over the first call's claim.
            assert!(cache.lock().unwrap().pending.contains_key(&k));
            release.send(()).unwrap();
            first.join().unwrap().unwrap();
        });
        assert!(cache.lock().unwrap().pending.is_empty());
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
