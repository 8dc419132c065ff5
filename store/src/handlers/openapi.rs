//! The `OpenAPI` document, generated from the handlers' annotations and the types they take and answer with, so
//! that it cannot drift from the code (a test checks real answers against its schemas).

use std::sync::OnceLock;

use utoipa::OpenApi as _;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use super::{
    api, app_files, comparisons, confirm, download, log_api, report, scrub, share, sign_in,
    transfer, tus,
};

/// The bearer token every authenticated route takes.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "token",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "exhibit court store",
        description = "Cases, evidence, immutable model versions addressed by hash, a tamper-evident custody \
                       log, parties' confirmations, share links and appellate transfer. Send \
                       `Authorization: Bearer <token>` on every /api route except /api/log/*, \
                       /api/openapi.json and POST /api/session; a browser signed in with POST /api/session \
                       sends its session cookie instead, and `X-CSRF-Token` on every change. Every error answers {\"error\", \"status\"}."
    ),
    paths(
        api::healthz, api::openapi, api::whoami, api::list_users, api::create_user, api::list_cases,
        api::create_case, api::get_case, api::add_member, api::list_evidence, api::add_evidence,
        api::case_events, api::get_evidence, report::case_report, transfer::export, transfer::import,
        confirm::create, download::get_blob, tus::options, tus::create, tus::status, tus::head, tus::patch,
        tus::terminate, comparisons::list, comparisons::save, comparisons::get, comparisons::report,
        comparisons::heat_map, share::list, share::create, share::revoke, scrub::scrub_endpoint,
        log_api::check, log_api::latest, log_api::inclusion, log_api::consistency, log_api::entry,
        share::page, share::model, share::other_model, share::render, share::heat_map,
        share::comparison_report, share::qr_png, share::qr_svg, app_files::web_app_file,
        app_files::asset, app_files::case_page, sign_in::sign_in, sign_in::current, sign_in::sign_out,
        sign_in::set_password, sign_in::create_token, sign_in::list_tokens, sign_in::revoke_token,
        sign_in::remove_member
    ),
    modifiers(&BearerToken),
    security(("token" = []))
)]
struct Document;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// The document as JSON, made once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}
