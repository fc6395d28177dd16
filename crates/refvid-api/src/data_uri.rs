//! `data:image/<png|jpeg|jpg|webp>;base64,<payload>` URIs.

use base64::Engine as _;

/// The media types a data URI may declare.
const ALLOWED: [&str; 4] = ["image/png", "image/jpeg", "image/jpg", "image/webp"];

/// Decodes a data URI into its bytes; the error is the rule that was broken.
pub fn decode(uri: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
    let rest = uri.strip_prefix("data:").ok_or("must start with data:")?;
    let (header, payload) = rest
        .split_once(',')
        .ok_or("must be data:image/<type>;base64,<data>")?;
    let mime = header
        .strip_suffix(";base64")
        .ok_or("must be base64-encoded (data:image/<type>;base64,...)")?;
    if !ALLOWED.contains(&mime.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "type {mime:?} is not allowed; use image/png, image/jpeg or image/webp"
        ));
    }
    // Four base64 characters carry three bytes; refuse oversize payloads before decoding.
    if payload.len() / 4 * 3 > max_bytes + 3 {
        return Err(format!(
            "image is larger than {} MiB",
            max_bytes / (1024 * 1024)
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim_end())
        .map_err(|_| "is not valid base64".to_string())?;
    if bytes.len() > max_bytes {
        return Err(format!(
            "image is larger than {} MiB",
            max_bytes / (1024 * 1024)
        ));
    }
    if bytes.is_empty() {
        return Err("holds no data".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_png_uri() {
        assert_eq!(
            decode("data:image/png;base64,AAEC", 100).unwrap(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn refuses_other_types_bad_base64_and_oversize() {
        assert!(
            decode("data:image/gif;base64,AAEC", 100)
                .unwrap_err()
                .contains("not allowed")
        );
        assert!(
            decode("data:image/png;base64,@@@@", 100)
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            decode("data:image/png,AAEC", 100)
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            decode("data:image/png;base64,AAECAwQF", 4)
                .unwrap_err()
                .contains("larger")
        );
        assert!(decode("image/png;base64,AAEC", 100).is_err());
    }
}
