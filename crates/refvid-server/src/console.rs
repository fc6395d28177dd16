//! The web console: a small page at `/` for trying the API from a browser.
//!
//! Plain HTML, CSS and JavaScript under `crates/refvid-server/console/`, compiled into the
//! binary (no build step, nothing fetched from elsewhere). The page only ever talks to this
//! server's own API with the key the user pastes; the key stays in the browser's
//! `localStorage`.
//!
//! Every answer carries a strict Content-Security-Policy (only this origin; images also from
//! `data:`/`blob:` for the thumbnails of picked files; media also from `https:`, where an S3
//! store's presigned video links point), `nosniff`, no
//! referrer, no framing, and `Cache-Control: no-cache` with a strong `ETag`, so a browser
//! revalidates cheaply (`304`) and never runs a page older than the server.

use crate::HttpError;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use refvid_api::ErrorCode;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// The policy every console answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob: https:; script-src 'self'; style-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../console/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../console/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../console/console.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../console/icon.svg"),
    },
];

/// Strong validators, one per asset (hash of the bytes, so a new build gets new ones).
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..32]))
        .collect()
});

/// `GET /`: the console page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /console/{file}`: the page's stylesheet, script and icon.
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return HttpError::new(ErrorCode::NotFound, "no such console file").into_response();
    };
    let (asset, etag) = (&ASSETS[i], &ETAGS[i]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("a hex ETag is a valid header value"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(name: &str, if_none_match: Option<&str>) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(tag) = if_none_match {
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
        }
        serve(name, &headers)
    }

    #[test]
    fn every_asset_has_its_type_the_policy_and_a_validator() {
        for (name, mime) in [
            ("index.html", "text/html; charset=utf-8"),
            ("console.css", "text/css; charset=utf-8"),
            ("console.js", "text/javascript; charset=utf-8"),
            ("icon.svg", "image/svg+xml"),
        ] {
            let response = get(name, None);
            assert_eq!(response.status(), 200, "{name}");
            let h = response.headers();
            assert_eq!(h[header::CONTENT_TYPE], mime);
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            assert_eq!(h[header::CACHE_CONTROL], "no-cache");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let etag = h[header::ETAG].to_str().unwrap().to_string();
            assert_eq!(get(name, Some(&etag)).status(), 304, "{name}");
            assert_eq!(get(name, Some("\"other\"")).status(), 200, "{name}");
        }
    }

    #[test]
    fn the_policy_allows_only_this_origin() {
        for part in [
            "default-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(CONTENT_SECURITY_POLICY.contains(part), "{part}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }

    #[test]
    fn unknown_files_are_404_envelopes() {
        assert_eq!(get("secret.txt", None).status(), 404);
        assert_eq!(get("../Cargo.toml", None).status(), 404);
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        for needle in [
            "/console/console.css",
            "/console/console.js",
            "/console/icon.svg",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
        for remote in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!html.contains(remote), "nothing from elsewhere: {remote}");
        }
        assert!(
            !html.contains("<script>"),
            "no inline scripts under the CSP"
        );
        assert!(!html.contains(" style="), "no inline styles under the CSP");
    }
}
