//! The blob conformance suite on local disk and on a real S3-compatible server (moto, from
//! PyPI, started by the test; `.ci/run` installs it).

use refvid_blob::testing::Moto;
use refvid_blob::{BlobStore, LocalBlobStore, S3BlobStore, UrlSigner, conformance};

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

#[tokio::test]
async fn s3_store_passes_the_conformance_suite_and_presigns_downloads() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(moto) = Moto::start("refvid-test") else {
        return;
    };
    // SAFETY: no other test in this binary reads the AWS variables.
    unsafe { moto.export_env() };
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
