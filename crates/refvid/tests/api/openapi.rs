//! `/openapi.json` is generated from the code and must equal the committed `docs/openapi.json`.
//! After changing the API, rewrite the copy with
//! `REFVID_UPDATE_OPENAPI=1 cargo test -p refvid --test api openapi` and commit it.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn the_served_document_matches_the_committed_copy() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v3/async/viduq2-pro-fast",
        "/v3/async/task-result",
        "/v3/async/task-cancel",
        "/ent/v2/reference2video",
        "/ent/v2/tasks/{id}/creations",
        "/ent/v2/tasks/{id}/cancel",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    if std::env::var_os("REFVID_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from what the server serves; run \
         `REFVID_UPDATE_OPENAPI=1 cargo test -p refvid --test api openapi` and commit the file"
    );
    app.stop().await;
}
