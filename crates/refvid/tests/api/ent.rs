//! Vidu's own dialect (`/ent/v2`) on the same core: `Token` auth, a round trip from
//! `reference2video` to the creations' video and cover, the upstream error envelope, cancel,
//! other keys' tasks, and the `callback_url` receiving the creations document.

use crate::helpers::*;
use crate::webhooks::Receiver;
use refvid_media::probe_mp4;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn ent_body() -> Value {
    json!({
        "model": "viduq2-pro-fast",
        "prompt": "@cat chases @ball",
        "duration": 1,
        "seed": 9,
        "payload": "order-17",
        "subjects": [
            {"id": "cat", "images": [disc_uri([200, 90, 40])], "voice_id": ""},
            {"name": "ball", "images": [disc_uri([40, 90, 220])]}
        ]
    })
}

async fn post(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .header("Authorization", format!("Token {key}"))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn creations(app: &TestApp, id: &str, key: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/ent/v2/tasks/{id}/creations", app.base))
        .header("Authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn wait_state(app: &TestApp, id: &str, want: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let (status, doc) = creations(app, id, &app.key).await;
        assert_eq!(status, 200, "{doc}");
        if want.contains(&doc["state"].as_str().unwrap()) {
            return doc;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_reference2video_task_ends_with_its_video_and_cover() {
    let app = spawn_app().await;
    let (status, created) = post(&app, "/ent/v2/reference2video", &app.key, &ent_body()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["state"], "created");
    assert_eq!(created["model"], "viduq2-pro-fast");
    assert_eq!(created["seed"], 9);
    assert_eq!(created["duration"], 1);
    assert_eq!(created["payload"], "order-17");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let id = created["task_id"].as_str().unwrap().to_string();

    let doc = wait_state(&app, &id, &["success", "failed"]).await;
    assert_eq!(doc["state"], "success", "{doc}");
    assert_eq!(
        (doc["err_code"].as_str(), doc["payload"].as_str()),
        (Some(""), Some("order-17"))
    );
    let creation = &doc["creations"][0];
    let video = app.download(creation["url"].as_str().unwrap()).await;
    let probe = probe_mp4(&video).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (1280, 720, 24)
    );
    let cover = app.download(creation["cover_url"].as_str().unwrap()).await;
    let jpeg = image::load_from_memory_with_format(&cover, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((jpeg.width(), jpeg.height()), (1280, 720));

    // The same task through the v3 dialect.
    let v3 = app.result(&id).await;
    assert_eq!(v3["task"]["status"], "TASK_STATUS_SUCCEED");
    assert_eq!(v3["extra"]["seed"], "9");
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_the_upstream_envelope_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        ("model", json!(null), "FieldLacking"),
        ("model", json!("sora-2"), "FieldInvalid"),
        ("resolution", json!("540p"), "FieldInvalid"),
        ("duration", json!(11), "FieldInvalid"),
        ("payload", json!(["x"]), "FieldInvalid"),
        ("prompt", json!(null), "FieldLacking"),
    ];
    for (field, value, reason) in cases {
        let mut body = ent_body();
        body[field] = value.clone();
        let (status, doc) = post(&app, "/ent/v2/reference2video", &app.key, &body).await;
        assert_eq!(status, 400, "{field}={value}: {doc}");
        assert_eq!(doc["code"], 400);
        assert_eq!(doc["reason"], reason, "{field}={value}: {doc}");
        assert_eq!(doc["metadata"]["field"], field, "{doc}");
        assert!(doc["message"].as_str().unwrap().contains(field), "{doc}");
        assert!(
            !doc["metadata"]["trace_id"].as_str().unwrap().is_empty(),
            "{doc}"
        );
    }
    let (status, doc) = post(&app, "/ent/v2/reference2video", "rv_wrong", &ent_body()).await;
    assert_eq!(
        (status, doc["reason"].as_str()),
        (401, Some("Unauthorized")),
        "{doc}"
    );
    app.stop().await;
}

#[tokio::test]
async fn tasks_can_be_cancelled_and_are_private_to_their_key() {
    let app = spawn_app().await;
    let mut body = ent_body();
    body["duration"] = json!(10);
    body["resolution"] = json!("1080p");
    let (_, created) = post(&app, "/ent/v2/reference2video", &app.key, &body).await;
    let id = created["task_id"].as_str().unwrap().to_string();
    let other = refvid::keys_cmd::create_key(
        &refvid::open_store(app.data_dir.path()).await.unwrap(),
        app.data_dir.path(),
        "other",
    )
    .await
    .unwrap();
    let (status, doc) = creations(&app, &id, &other).await;
    assert_eq!(
        (status, doc["reason"].as_str()),
        (404, Some("TaskNotFound")),
        "{doc}"
    );
    let (status, doc) = creations(&app, "no-such-task", &app.key).await;
    assert_eq!(status, 404, "{doc}");

    let path = format!("/ent/v2/tasks/{id}/cancel");
    let (status, doc) = post(&app, &path, &app.key, &json!({"id": id})).await;
    assert_eq!((status, &doc), (200, &json!({})));
    let doc = wait_state(&app, &id, &["failed"]).await;
    assert_eq!(doc["err_code"], "UserCancelled", "{doc}");

    let (_, done) = post(&app, "/ent/v2/reference2video", &app.key, &ent_body()).await;
    let done_id = done["task_id"].as_str().unwrap().to_string();
    wait_state(&app, &done_id, &["success"]).await;
    let path = format!("/ent/v2/tasks/{done_id}/cancel");
    let (status, doc) = post(&app, &path, &app.key, &json!({"id": done_id})).await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(doc["message"], "task state is success, can not cancel");
    app.stop().await;
}

#[tokio::test]
async fn the_callback_url_receives_the_creations_document() {
    let (receiver, url) = Receiver::start(vec![]).await;
    let app = spawn_app_with(|c| c.allow_private_networks = true).await;
    let mut body = ent_body();
    body["callback_url"] = json!(url);
    let (status, created) = post(&app, "/ent/v2/reference2video", &app.key, &body).await;
    assert_eq!(status, 200, "{created}");
    let events = receiver.wait_events(1, Duration::from_secs(120)).await;
    let (_, event) = &events[0];
    assert_eq!(event["id"], created["task_id"], "{event}");
    assert_eq!(event["state"], "success", "{event}");
    assert_eq!(event["payload"], "order-17");
    assert!(
        event["creations"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/files/")
    );
    assert!(
        event["creations"][0]["cover_url"]
            .as_str()
            .unwrap()
            .contains("/files/")
    );
    app.stop().await;
}
