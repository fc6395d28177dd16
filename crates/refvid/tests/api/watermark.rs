//! `watermark: true` marks the bottom-right corner of every frame and nothing else.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

async fn frames_of(app: &TestApp, watermark: bool) -> Vec<image::RgbImage> {
    let mut body = two_subject_body();
    body["watermark"] = json!(watermark);
    let id = app.submit_ok(&body).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    let bytes = app
        .download(last["videos"][0]["video_url"].as_str().unwrap())
        .await;
    refvid_media::decode_frames(&bytes).unwrap()
}

/// Mean absolute difference of two frames inside and outside the bottom-right corner box.
fn diff_in_and_out(a: &image::RgbImage, b: &image::RgbImage) -> (f64, f64) {
    let (w, h) = a.dimensions();
    let in_corner = |x: u32, y: u32| x >= w * 3 / 4 && y >= h * 4 / 5;
    let (mut sum_in, mut n_in, mut sum_out, mut n_out) = (0f64, 0f64, 0f64, 0f64);
    for (x, y, pa) in a.enumerate_pixels() {
        let pb = b.get_pixel(x, y);
        let d: f64 = (0..3)
            .map(|c| (pa[c] as f64 - pb[c] as f64).abs())
            .sum::<f64>()
            / 3.0;
        if in_corner(x, y) {
            sum_in += d;
            n_in += 1.0;
        } else {
            sum_out += d;
            n_out += 1.0;
        }
    }
    (sum_in / n_in, sum_out / n_out)
}

#[tokio::test]
async fn the_watermark_changes_the_corner_and_not_the_rest() {
    let app = spawn_app().await;
    let plain = frames_of(&app, false).await;
    let marked = frames_of(&app, true).await;
    assert_eq!(plain.len(), marked.len());
    for i in [0, plain.len() / 2, plain.len() - 1] {
        let (inside, outside) = diff_in_and_out(&plain[i], &marked[i]);
        assert!(
            inside > 4.0,
            "frame {i}: corner differs by only {inside:.2}"
        );
        assert!(
            outside < 1.0,
            "frame {i}: rest of the frame differs by {outside:.2}"
        );
        assert!(
            inside > 8.0 * outside,
            "frame {i}: {inside:.2} vs {outside:.2}"
        );
    }
    app.stop().await;
}
