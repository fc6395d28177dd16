//! The behaviour every [`BlobStore`] must have, as one suite each backend's tests run.

use crate::{BlobError, BlobStore};

/// Runs every check on an empty store.
pub async fn run_all(store: &dyn BlobStore) {
    round_trips_and_overwrites(store).await;
    missing_blobs_are_not_found(store).await;
    unsafe_keys_are_refused(store).await;
    signed_urls_name_the_key(store).await;
}

async fn round_trips_and_overwrites(store: &dyn BlobStore) {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    store.put("videos/a.mp4", big.clone()).await.unwrap();
    assert_eq!(store.get("videos/a.mp4").await.unwrap(), big);
    store.put("videos/a.mp4", vec![1, 2, 3]).await.unwrap();
    assert_eq!(store.get("videos/a.mp4").await.unwrap(), vec![1, 2, 3]);
}

async fn missing_blobs_are_not_found(store: &dyn BlobStore) {
    assert!(matches!(
        store.get("videos/missing.mp4").await,
        Err(BlobError::NotFound)
    ));
}

async fn unsafe_keys_are_refused(store: &dyn BlobStore) {
    for bad in ["../x", "/etc/passwd", "a//b", "a/./b", "", "a b", "a?b"] {
        assert!(
            matches!(store.put(bad, vec![1]).await, Err(BlobError::InvalidKey(_))),
            "{bad:?}"
        );
        assert!(
            matches!(
                store.signed_url(bad, 60).await,
                Err(BlobError::InvalidKey(_))
            ),
            "{bad:?}"
        );
    }
}

async fn signed_urls_name_the_key(store: &dyn BlobStore) {
    store.put("covers/c.jpg", vec![9]).await.unwrap();
    let url = store.signed_url("covers/c.jpg", 60).await.unwrap();
    assert!(url.contains("covers/c.jpg"), "{url}");
    assert!(url.starts_with("http"), "{url}");
}
