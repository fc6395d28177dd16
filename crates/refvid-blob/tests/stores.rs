//! The blob conformance suite on local disk and on a real S3-compatible server (moto, from
//! PyPI, started by the test; `.ci/run` installs it).

use refvid_blob::{BlobStore, LocalBlobStore, S3BlobStore, UrlSigner, conformance};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn local_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::new(
        dir.path(),
        UrlSigner::new(vec![7; 32]),
        "http://127.0.0.1:1",
    );
    conformance::run_all(&store).await;
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts moto's S3 server, or returns `None` (with the reason printed) if it is not installed
/// and `REFVID_SKIP_S3=1` allows skipping.
async fn start_moto() -> Option<(Moto, String)> {
    let port = free_port();
    let spawned = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match spawned {
        Ok(child) => Moto(child),
        Err(e) => return skip(&format!("python3 could not start: {e}")),
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if client
            .put(format!("{endpoint}/refvid-test"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Some((child, endpoint));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    skip("moto's S3 server did not come up (pip install 'moto[server]')")
}

fn skip<T>(why: &str) -> Option<T> {
    assert_eq!(
        std::env::var("REFVID_SKIP_S3").as_deref(),
        Ok("1"),
        "{why}; set REFVID_SKIP_S3=1 to skip"
    );
    eprintln!("SKIPPED: {why}");
    None
}

#[tokio::test]
async fn s3_store_passes_the_conformance_suite_and_presigns_downloads() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some((_moto, endpoint)) = start_moto().await else {
        return;
    };
    // SAFETY: set before any other thread of this test reads the environment.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let store = S3BlobStore::from_url("s3://refvid-test/outputs").unwrap();
    conformance::run_all(&store).await;
    store.put("videos/v.mp4", b"movie".to_vec()).await.unwrap();
    let url = store.signed_url("videos/v.mp4", 300).await.unwrap();
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.as_ref(), b"movie");
}

#[test]
fn s3_urls_split_into_bucket_and_prefix() {
    assert_eq!(
        refvid_blob::parse_s3_url("s3://b/p/q/").unwrap(),
        ("b".into(), "p/q".into())
    );
    assert_eq!(
        refvid_blob::parse_s3_url("s3://b").unwrap(),
        ("b".into(), "".into())
    );
    assert!(refvid_blob::parse_s3_url("http://b").is_err());
    assert!(refvid_blob::parse_s3_url("s3:///x").is_err());
}
