//! Signed download URLs: no key needed, refused once expired or tampered with.

use crate::helpers::*;
use std::time::Duration;

async fn finished_video_url(app: &TestApp) -> String {
    let id = app.submit_ok(&two_subject_body()).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    last["videos"][0]["video_url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn tampered_links_are_refused_and_ranges_are_served() {
    let app = spawn_app().await;
    let url = finished_video_url(&app).await;
    let full = app.download(&url).await;
    let ranged = app
        .client
        .get(&url)
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &full[..100]);
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered_sig = format!("{}{flipped}", &url[..url.len() - 1]);
    let other_file = url.replace("/videos/", "/videos/x");
    let longer = url.replace("expires=", "expires=9");
    let unsigned = url.split('?').next().unwrap().to_string();
    for bad in [tampered_sig, other_file, longer, unsigned] {
        let response = app.client.get(&bad).send().await.unwrap();
        assert_eq!(response.status(), 403, "{bad}");
        let doc: serde_json::Value = response.json().await.unwrap();
        assert_eq!(doc["reason"], "URL_SIGNATURE_INVALID");
    }
    app.stop().await;
}

#[tokio::test]
async fn expired_links_are_refused() {
    let app = spawn_app_with(|c| c.url_ttl_secs = 1).await;
    let url = finished_video_url(&app).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["reason"], "URL_EXPIRED");
    app.stop().await;
}
