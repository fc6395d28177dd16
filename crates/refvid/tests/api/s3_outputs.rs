//! Outputs in S3-compatible storage: the task's video_url is a presigned S3 URL that downloads.

use crate::helpers::*;
use refvid_blob::testing::Moto;
use std::time::Duration;

#[tokio::test]
async fn videos_go_to_s3_and_download_through_presigned_urls() {
    let Some(moto) = Moto::start("refvid-outputs") else {
        return;
    };
    // SAFETY: only this test reads the AWS variables.
    unsafe { moto.export_env() };
    let app = spawn_app_with(|c| c.blob_url = Some("s3://refvid-outputs/tasks".into())).await;
    let id = app.submit_ok(&two_subject_body()).await;
    let last = app.wait(&id, Duration::from_secs(120)).await.pop().unwrap();
    assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
    let url = last["videos"][0]["video_url"].as_str().unwrap();
    assert!(
        url.starts_with(&moto.endpoint) && url.contains("X-Amz-Signature"),
        "{url}"
    );
    let probe = refvid_media::probe_mp4(&app.download(url).await).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.frame_count),
        (1280, 720, 24)
    );
    assert!(
        !app.data_dir.path().join("outputs").exists(),
        "nothing was written to local disk"
    );
    app.stop().await;
}
