//! The request's images, fetched (URLs, behind the address guard) or unpacked (data URIs), then
//! decoded under the spec's image rules.

use crate::task_error::TaskError;
use refvid_api::{ImageSource, MAX_IMAGE_BYTES, TaskSpec, data_uri};
use refvid_engine::SubjectRefs;
use refvid_media::GuardedHttp;

/// Loads every subject's images, in order; the error names the image and the rule.
pub async fn load(spec: &TaskSpec, http: &GuardedHttp) -> Result<Vec<SubjectRefs>, TaskError> {
    let mut subjects = Vec::with_capacity(spec.subjects.len());
    let paths = spec.image_paths();
    let mut path_iter = paths.iter();
    for subject in &spec.subjects {
        let mut images = Vec::with_capacity(subject.images.len());
        for _ in &subject.images {
            let (path, source) = path_iter.next().expect("one path per image");
            images.push(load_one(path, source, http).await?);
        }
        subjects.push(SubjectRefs {
            name: subject.name.clone(),
            images,
        });
    }
    Ok(subjects)
}

async fn load_one(
    path: &str,
    source: &ImageSource,
    http: &GuardedHttp,
) -> Result<image::RgbaImage, TaskError> {
    let bytes = match source {
        ImageSource::DataUri(uri) => data_uri::decode(uri, MAX_IMAGE_BYTES)
            .map_err(|rule| TaskError::Final(format!("{path}: data URI {rule}")))?,
        ImageSource::Url(url) => http
            .get_bytes(url)
            .await
            .map_err(|e| TaskError::Final(format!("{path} could not be fetched: {e}")))?
            .to_vec(),
    };
    let decoded = tokio::task::spawn_blocking(move || refvid_media::decode_reference(&bytes)).await;
    match decoded {
        Ok(Ok(image)) => Ok(image),
        Ok(Err(rule)) => Err(TaskError::Final(format!("{path}: {rule}"))),
        Err(_) => Err(TaskError::Final(format!("{path} could not be decoded"))),
    }
}
