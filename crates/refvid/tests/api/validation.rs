//! Every rule of the request body, each with a request that breaks it.

use crate::helpers::*;
use serde_json::{Value, json};

/// Sets `path` (dot/index path like `subjects.0.images`) in a copy of the valid body.
fn with(path: &str, value: Value) -> Value {
    let mut body = two_subject_body();
    *pointer(&mut body, path) = value;
    body
}

fn without(key: &str) -> Value {
    let mut body = two_subject_body();
    body.as_object_mut().unwrap().remove(key);
    body
}

fn pointer<'a>(body: &'a mut Value, path: &str) -> &'a mut Value {
    let mut at = body;
    for part in path.split('.') {
        at = match part.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => {
                if at.get(part).is_none() {
                    at.as_object_mut().unwrap().insert(part.into(), Value::Null);
                }
                &mut at[part]
            }
        };
    }
    at
}

fn images_mode(images: Value) -> Value {
    let mut body = without("subjects");
    body["images"] = images;
    body["prompt"] = json!("@1 and @2 dance");
    body
}

fn tiny_png(w: u32, h: u32) -> String {
    data_uri(&disc_png(w, h, [255, 0, 0]))
}

/// (what is wrong, the body, the field the error must name)
fn cases() -> Vec<(&'static str, Value, &'static str)> {
    let long_prompt = "a".repeat(2001);
    let eight: Vec<Value> = (0..8)
        .map(|i| json!({"name": format!("s{i}"), "images": [disc_uri([1, 2, 3])]}))
        .collect();
    let img = disc_uri([9, 9, 9]);
    vec![
        ("prompt missing", without("prompt"), "prompt"),
        ("prompt not a string", with("prompt", json!(5)), "prompt"),
        (
            "prompt over 2000 characters",
            with("prompt", json!(long_prompt)),
            "prompt",
        ),
        (
            "prompt names an unknown subject",
            with("prompt", json!("@dog runs")),
            "prompt",
        ),
        (
            "prompt numbers a missing subject",
            with("prompt", json!("@3 runs")),
            "prompt",
        ),
        ("duration zero", with("duration", json!(0)), "duration"),
        ("duration eleven", with("duration", json!(11)), "duration"),
        (
            "duration fractional",
            with("duration", json!(2.5)),
            "duration",
        ),
        (
            "duration a string",
            with("duration", json!("5")),
            "duration",
        ),
        (
            "subjects and images both missing",
            without("subjects"),
            "subjects",
        ),
        (
            "subjects and images both given",
            with("images", json!([img.clone()])),
            "subjects",
        ),
        ("subjects empty", with("subjects", json!([])), "subjects"),
        (
            "subjects not an array",
            with("subjects", json!({"name": "x"})),
            "subjects",
        ),
        (
            "more than seven subjects",
            with("subjects", Value::Array(eight)),
            "subjects",
        ),
        (
            "subject not an object",
            with("subjects.1", json!("ball")),
            "subjects[1]",
        ),
        (
            "subject name missing",
            with("subjects.1", json!({"images": [img.clone()]})),
            "subjects[1].name",
        ),
        (
            "subject name empty",
            with("subjects.1.name", json!("  ")),
            "subjects[1].name",
        ),
        (
            "subject name too long",
            with("subjects.1.name", json!("n".repeat(65))),
            "subjects[1].name",
        ),
        (
            "subject name not a string",
            with("subjects.1.name", json!(["ball"])),
            "subjects[1].name",
        ),
        (
            "subject names repeated",
            with("subjects.1.name", json!("CAT")),
            "subjects[1].name",
        ),
        (
            "subject images missing",
            with("subjects.1", json!({"name": "ball"})),
            "subjects[1].images",
        ),
        (
            "subject images empty",
            with("subjects.1.images", json!([])),
            "subjects[1].images",
        ),
        (
            "subject with four images",
            with("subjects.1.images", json!([img, img, img, img])),
            "subjects[1].images",
        ),
        (
            "more than seven images in all",
            with(
                "subjects",
                json!([
            {"name": "cat", "images": [img, img, img]}, {"name": "ball", "images": [img, img, img]},
            {"name": "cup", "images": [img, img]}]),
            ),
            "subjects",
        ),
        (
            "image not a string",
            with("subjects.0.images.0", json!(7)),
            "subjects[0].images[0]",
        ),
        (
            "image neither URL nor data URI",
            with("subjects.0.images.0", json!("ftp://x/y.png")),
            "subjects[0].images[0]",
        ),
        (
            "image URL without host",
            with("subjects.0.images.0", json!("http://")),
            "subjects[0].images[0]",
        ),
        (
            "data URI of a GIF type",
            with(
                "subjects.0.images.0",
                json!("data:image/gif;base64,R0lGODlh"),
            ),
            "subjects[0].images[0]",
        ),
        (
            "data URI not base64",
            with("subjects.0.images.0", json!("data:image/png;base64,###")),
            "subjects[0].images[0]",
        ),
        (
            "data URI bytes not an image",
            with(
                "subjects.0.images.0",
                json!("data:image/png;base64,aGVsbG8gd29ybGQ="),
            ),
            "subjects[0].images[0]",
        ),
        (
            "image smaller than 128x128",
            with(
                "subjects.0.images",
                json!([img.clone(), tiny_png(100, 140)]),
            ),
            "subjects[0].images[1]",
        ),
        (
            "image wider than 4:1",
            with("subjects.1.images.0", json!(tiny_png(1000, 200))),
            "subjects[1].images[0]",
        ),
        (
            "voice_id not a string",
            with("subjects.1.voice_id", json!(3)),
            "subjects[1].voice_id",
        ),
        ("images mode empty", images_mode(json!([])), "images"),
        (
            "images mode eight images",
            images_mode(json!(vec![disc_uri([1, 1, 1]); 8])),
            "images",
        ),
        (
            "images mode bad image",
            images_mode(json!(["nope", disc_uri([1, 1, 1])])),
            "images[0]",
        ),
        ("bgm not a boolean", with("bgm", json!("yes")), "bgm"),
        ("audio not a boolean", with("audio", json!(1)), "audio"),
        (
            "watermark not a boolean",
            with("watermark", json!("true")),
            "watermark",
        ),
        ("seed negative", with("seed", json!(-1)), "seed"),
        (
            "seed over 2^31-1",
            with("seed", json!(2147483648u64)),
            "seed",
        ),
        ("seed not a number", with("seed", json!("123")), "seed"),
        (
            "resolution unknown",
            with("resolution", json!("480p")),
            "resolution",
        ),
        (
            "resolution not a string",
            with("resolution", json!(720)),
            "resolution",
        ),
        (
            "aspect ratio malformed",
            with("aspect_ratio", json!("16x9")),
            "aspect_ratio",
        ),
        (
            "aspect ratio beyond 4:1",
            with("aspect_ratio", json!("5:1")),
            "aspect_ratio",
        ),
        (
            "aspect ratio with zero",
            with("aspect_ratio", json!("0:9")),
            "aspect_ratio",
        ),
        (
            "movement amplitude unknown",
            with("movement_amplitude", json!("huge")),
            "movement_amplitude",
        ),
        ("extra not an object", with("extra", json!(3)), "extra"),
        (
            "webhook not an object",
            with("extra", json!({"webhook": "http://x"})),
            "extra.webhook",
        ),
        (
            "webhook without url",
            with("extra", json!({"webhook": {}})),
            "extra.webhook.url",
        ),
        (
            "webhook url not http",
            with("extra", json!({"webhook": {"url": "file:///etc/passwd"}})),
            "extra.webhook.url",
        ),
        (
            "webhook test status unknown",
            with(
                "extra",
                json!({"webhook": {"url": "http://example.com/h", "test_mode": {"enabled": true, "return_task_status": "DONE"}}}),
            ),
            "extra.webhook.test_mode.return_task_status",
        ),
    ]
}

#[tokio::test]
async fn every_broken_rule_is_a_400_naming_the_field() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let cases = cases();
    assert!(cases.len() >= 50);
    for (what, body, field) in cases {
        let response = app.submit(&body).await;
        let status = response.status().as_u16();
        let doc: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{what}: {doc}");
        assert_eq!(doc["code"], 400, "{what}");
        assert_eq!(doc["reason"], "INVALID_REQUEST_BODY", "{what}");
        assert_eq!(doc["metadata"]["field"], field, "{what}: {doc}");
        let message = doc["message"].as_str().unwrap();
        let last = field.rsplit('.').next().unwrap();
        assert!(
            message.contains(last.split('[').next().unwrap()),
            "{what}: message {message:?} should name {field}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn malformed_bodies_and_content_types_are_400() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    for (body, content_type, field) in [
        (b"{not json".to_vec(), "application/json", ""),
        (b"[1,2]".to_vec(), "application/json", ""),
        (b"{}".to_vec(), "text/plain", "Content-Type"),
        (
            serde_json::to_vec(&two_subject_body()).unwrap(),
            "application/x-www-form-urlencoded",
            "Content-Type",
        ),
    ] {
        let response = app.post_raw(body, content_type, Some(&app.key)).await;
        assert_eq!(response.status(), 400);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["reason"], "INVALID_REQUEST_BODY");
        assert_eq!(doc["metadata"]["field"], field, "{doc}");
    }
    let ok = app
        .post_raw(
            serde_json::to_vec(&two_subject_body()).unwrap(),
            "application/json; charset=utf-8",
            Some(&app.key),
        )
        .await;
    assert_eq!(ok.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_20_mib_is_413() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let mut body = serde_json::to_vec(&two_subject_body()).unwrap();
    body.pop();
    body.extend_from_slice(b",\"pad\":\"");
    body.extend(std::iter::repeat_n(b'x', 20 * 1024 * 1024));
    body.extend_from_slice(b"\"}");
    let response = app.post_raw(body, "application/json", Some(&app.key)).await;
    assert_eq!(response.status(), 413);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["reason"], "REQUEST_TOO_LARGE");
    app.stop().await;
}

#[tokio::test]
async fn valid_variants_and_unknown_fields_are_accepted() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let mut minimal = two_subject_body();
    for key in [
        "duration",
        "seed",
        "resolution",
        "aspect_ratio",
        "movement_amplitude",
    ] {
        minimal.as_object_mut().unwrap().remove(key);
    }
    let mut unknown = two_subject_body();
    unknown["something_new"] = json!({"deep": [1, 2]});
    unknown["subjects"][0]["extra_field"] = json!(true);
    let mut alias = two_subject_body();
    alias["subjects"][1] = json!({"id": "ball", "images": [disc_uri([1, 2, 3])]});
    let mut large = two_subject_body();
    large["movement_amplitude"] = json!("large");
    let mut nulls = two_subject_body();
    nulls["seed"] = Value::Null;
    nulls["bgm"] = Value::Null;
    let mut edges = two_subject_body();
    edges["prompt"] = json!("é".repeat(2000));
    edges["aspect_ratio"] = json!("1:4");
    edges["duration"] = json!(10);
    edges["seed"] = json!(2147483647);
    let images = images_mode(json!([disc_uri([1, 2, 3]), disc_uri([3, 2, 1])]));
    for body in [minimal, unknown, alias, large, nulls, edges, images] {
        app.submit_ok(&body).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn oversized_or_too_many_headers_are_431() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.workers = 0).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    for headers in [format!("X-Big: {}\r\n", "a".repeat(1_000_000)), many] {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let _ = socket.write_all(request.as_bytes()).await;
        let mut answer = vec![0u8; 64];
        let n = socket.read(&mut answer).await.unwrap();
        assert!(
            String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&answer[..n])
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_methods_and_odd_queries_still_get_the_envelope() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let wrong = app
        .client
        .get(format!("{}/v3/async/viduq2-pro-fast", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    let doc: Value = wrong.json().await.unwrap();
    assert_eq!(
        (doc["code"].as_u64(), doc["reason"].as_str()),
        (Some(405), Some("METHOD_NOT_ALLOWED"))
    );
    let odd = app
        .client
        .get(format!(
            "{}/files/videos/x.mp4?expires=soon&sig=zz",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 403);
    let doc: Value = odd.json().await.unwrap();
    assert_eq!(doc["reason"], "URL_SIGNATURE_INVALID");
    let unknown = app
        .client
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["reason"],
        "NOT_FOUND"
    );
    app.stop().await;
}
