//! `GET /openapi.json`: the OpenAPI 3.1 document of both dialects, generated from the handlers'
//! `#[utoipa::path]` attributes and the body types' schemas. A copy is committed as
//! `docs/openapi.json`; a test fails when the two differ.

use axum::http::header;
use axum::response::IntoResponse;
use std::sync::LazyLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "refvid",
        description = "Self-hosted reference-to-video generation speaking the VIDU Q2 Pro Fast API \
                       (`/v3/async/...`) and Vidu's own dialect (`/ent/v2/...`).",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::submit::submit,
        crate::result_doc::task_result,
        crate::result_doc::task_cancel,
        crate::voices::list,
        crate::ent::reference2video,
        crate::ent::creations,
        crate::ent::cancel,
        crate::files::download,
        crate::routes::healthz,
        crate::routes::readyz,
        crate::routes::metrics,
    ),
    // The subjects' schemas: the request types' `subjects` fields refer to them by name.
    components(schemas(refvid_api::request::SubjectIn, refvid_api::request::EntSubjectIn)),
    modifiers(&Security),
    tags(
        (name = "v3", description = "The hosted service's API"),
        (name = "ent", description = "Vidu's own API dialect on the same tasks"),
        (name = "files", description = "Signed downloads of outputs on local disk"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

/// The two ways to send a key.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>` (the same keys as `bearer`)",
            ))),
        );
    }
}

/// The document as pretty JSON (built once).
pub fn document() -> &'static str {
    static DOC: LazyLock<String> = LazyLock::new(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc.to_pretty_json()
            .expect("the OpenAPI document serialises")
            + "\n"
    });
    &DOC
}

/// The handler.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}
