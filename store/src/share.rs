//! Share links: view-only, expiring, revocable one by one, scoped to one model version (or the two
//! models of a comparison). The token is 128 random bits, given out once and stored only as its hash.
//! Each link has a page (the model's facts, a render, a download), and a QR code of itself.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::AppState;
use crate::api::{JsonBody, clean_sha256, clean_text};
use crate::auth::{self, Action, Caller};
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};

/// Default lifetime of a link, and the longest allowed.
const DEFAULT_EXPIRY_S: i64 = 7 * 24 * 3600;
const MAX_EXPIRY_S: i64 = 366 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// SHA-256 of a model version (or give `comparison`).
    model: Option<String>,
    /// A second model of the same case, for a comparison link.
    other: Option<String>,
    /// A saved comparison: the link shows its two models, figures and heat map.
    comparison: Option<i64>,
    /// Seconds until the link stops working.
    expires_in_s: Option<i64>,
    /// The camera the viewer should open with (carried in the link's fragment).
    view: Option<String>,
}

/// The version and case of a model hash; `None` when no version has it.
pub(crate) async fn model_facts(state: &AppState, sha256: &str) -> ApiResult<Option<Value>> {
    let row = sqlx::query(
        "SELECT evidence.case_id, evidence.id, evidence.label, evidence.kind, versions.number, \
         versions.bytes, versions.manifest_sha256, versions.filename, cases.number, cases.court, \
         cases.title, versions.created_ms, versions.id FROM versions \
         JOIN evidence ON evidence.id = versions.evidence_id JOIN cases ON cases.id = evidence.case_id \
         WHERE versions.model_sha256 = $1 ORDER BY versions.id LIMIT 1",
    )
    .bind(sha256)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading a model", &e))?;
    Ok(row.map(|r| {
        json!({
            "case": r.get::<i64, _>(0),
            "evidence": r.get::<i64, _>(1),
            "label": r.get::<String, _>(2),
            "kind": r.get::<String, _>(3),
            "version": r.get::<i64, _>(4),
            "bytes": r.get::<i64, _>(5),
            "manifest_sha256": r.get::<Option<String>, _>(6),
            "filename": r.get::<String, _>(7),
            "case_number": r.get::<String, _>(8),
            "court": r.get::<String, _>(9),
            "title": r.get::<String, _>(10),
            "uploaded_at": rfc3339(r.get(11)),
            "version_id": r.get::<i64, _>(12),
            "sha256": sha256,
        })
    }))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<NewShare>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // A saved comparison names its two models; the link is to them.
    let (model, other) = match (body.comparison, &body.model, &body.other) {
        (Some(id), None, None) => {
            let saved = crate::comparisons::comparison_json(&state, id).await?;
            (
                saved["a"].as_str().unwrap_or_default().to_owned(),
                saved["b"].as_str().map(str::to_owned),
            )
        }
        (Some(_), _, _) => {
            return Err(ApiError::bad_request(
                "field `comparison`: a comparison link names its models itself; leave out `model` and `other`",
            ));
        }
        (None, Some(model), other) => (clean_sha256("model", model)?, other.clone()),
        (None, None, _) => {
            return Err(ApiError::bad_request(
                "field `model`: the SHA-256 of a model version (or `comparison`, a saved comparison's id)",
            ));
        }
    };
    let facts = model_facts(&state, &model)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let case = facts["case"].as_i64().unwrap_or_default();
    auth::authorize(
        &state,
        &caller,
        Action::Share,
        Some(case),
        &format!("model {model}"),
    )
    .await?;
    let other = match &other {
        Some(other) => {
            let other = clean_sha256("other", other)?;
            let other_facts = model_facts(&state, &other).await?.ok_or_else(|| {
                ApiError::bad_request("field `other`: no model version has that hash")
            })?;
            if other_facts["case"] != facts["case"] {
                return Err(ApiError::bad_request(
                    "field `other`: a comparison link joins two models of the same case",
                ));
            }
            Some(other)
        }
        None => None,
    };
    let expires_in = body.expires_in_s.unwrap_or(DEFAULT_EXPIRY_S);
    if !(1..=MAX_EXPIRY_S).contains(&expires_in) {
        return Err(ApiError::bad_request(format!(
            "field `expires_in_s`: {expires_in} is not between 1 and {MAX_EXPIRY_S} seconds"
        )));
    }
    let view = match &body.view {
        Some(v) => Some(clean_text("view", v, 500)?),
        None => None,
    };
    let token = auth::random_hex(16);
    let now = now_ms();
    let expires_ms = now + expires_in * 1000;
    let id: i64 = {
        let _guard = state.db.write().await;
        sqlx::query(
            "INSERT INTO shares (token_hash, case_id, model_sha256, other_sha256, view, created_by, \
             created_ms, expires_ms, comparison_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id",
        )
        .bind(auth::token_hash(&token))
        .bind(case)
        .bind(&model)
        .bind(&other)
        .bind(&view)
        .bind(caller.user_id)
        .bind(now)
        .bind(expires_ms)
        .bind(body.comparison)
        .fetch_one(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("creating a share link", &e))?
        .get(0)
    };
    auth::log_event(
        &state,
        &caller,
        "share_created",
        Some(case),
        &format!("share {id}"),
        "ok",
        &format!(
            "model {model}{} until {}",
            body.comparison
                .map(|c| format!(", comparison {c}"))
                .unwrap_or_default(),
            rfc3339(expires_ms)
        ),
    )
    .await?;
    let base = format!("{}/s/{token}", state.public_url);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "url": link_url(&base),
            "token": token,
            "expires_at": rfc3339(expires_ms),
            "qr_png": format!("{base}/qr.png"),
            "qr_svg": format!("{base}/qr.svg"),
            "model": model,
            "other": other,
            "comparison": body.comparison,
        })),
    ))
}

/// The link as people receive it: the store's address and the token, nothing more. The camera is stored with
/// the link and shown on its page, so the link stays about 60 characters and its QR code a small symbol
/// (version 4 or 5) with large modules that a phone reads across a courtroom.
fn link_url(base: &str) -> String {
    base.to_owned()
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    case: i64,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    auth::authorize(
        &state,
        &caller,
        Action::Share,
        Some(query.case),
        &format!("case {} shares", query.case),
    )
    .await?;
    let rows = sqlx::query(
        "SELECT shares.id, model_sha256, other_sha256, users.name, shares.created_ms, expires_ms, \
         revoked_ms, comparison_id FROM shares JOIN users ON users.id = shares.created_by WHERE case_id = $1 \
         ORDER BY shares.id",
    )
    .bind(query.case)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("listing share links", &e))?;
    let now = now_ms();
    let shares: Vec<Value> = rows
        .iter()
        .map(|r| {
            let revoked: Option<i64> = r.get(6);
            let expires: i64 = r.get(5);
            json!({
                "id": r.get::<i64, _>(0),
                "model": r.get::<String, _>(1),
                "other": r.get::<Option<String>, _>(2),
                "comparison": r.get::<Option<i64>, _>(7),
                "created_by": r.get::<String, _>(3),
                "created_at": rfc3339(r.get(4)),
                "expires_at": rfc3339(expires),
                "revoked_at": revoked.map(rfc3339),
                "state": if revoked.is_some() { "revoked" } else if expires <= now { "expired" } else { "active" },
            })
        })
        .collect();
    Ok(Json(json!({ "shares": shares })))
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let case: i64 = sqlx::query("SELECT case_id FROM shares WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a share link", &e))?
        .ok_or_else(ApiError::not_found)?
        .get(0);
    auth::authorize(
        &state,
        &caller,
        Action::RevokeShare,
        Some(case),
        &format!("share {id}"),
    )
    .await?;
    {
        let _guard = state.db.write().await;
        sqlx::query("UPDATE shares SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&state.db.pool)
            .await
            .map_err(|e| ApiError::database("revoking a share link", &e))?;
    }
    auth::log_event(
        &state,
        &caller,
        "share_revoked",
        Some(case),
        &format!("share {id}"),
        "ok",
        "",
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A live link's row.
#[derive(Debug)]
struct Link {
    id: i64,
    case: i64,
    model: String,
    other: Option<String>,
    view: Option<String>,
    expires_ms: i64,
    token: String,
    comparison: Option<i64>,
}

/// Why a link does not open.
enum Closed {
    Unknown,
    Expired(i64),
    Revoked(i64),
    Error(ApiError),
}

async fn open_link(state: &AppState, token: &str) -> Result<Link, Closed> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Closed::Unknown);
    }
    let row = sqlx::query(
        "SELECT id, case_id, model_sha256, other_sha256, view, expires_ms, revoked_ms, comparison_id \
         FROM shares WHERE token_hash = $1",
    )
    .bind(auth::token_hash(token))
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| Closed::Error(ApiError::database("reading a share link", &e)))?
    .ok_or(Closed::Unknown)?;
    if let Some(revoked) = row.get::<Option<i64>, _>(6) {
        return Err(Closed::Revoked(revoked));
    }
    let expires_ms: i64 = row.get(5);
    if expires_ms <= now_ms() {
        return Err(Closed::Expired(expires_ms));
    }
    Ok(Link {
        id: row.get(0),
        case: row.get(1),
        model: row.get(2),
        other: row.get(3),
        view: row.get(4),
        expires_ms,
        token: token.to_owned(),
        comparison: row.get(7),
    })
}

/// The page for a link that does not open: 404 for an unknown one, 410 for an expired or revoked one,
/// always a page that says so in words (in Chinese and English), never an empty screen.
fn closed_page(closed: Closed) -> Response {
    let (status, zh, en) = match closed {
        Closed::Unknown => (
            StatusCode::NOT_FOUND,
            "此分享链接不存在。".to_owned(),
            "This share link does not exist.".to_owned(),
        ),
        Closed::Expired(at) => (
            StatusCode::GONE,
            format!("此分享链接已于 {} 过期。", rfc3339(at)),
            format!("This share link expired at {}.", rfc3339(at)),
        ),
        Closed::Revoked(at) => (
            StatusCode::GONE,
            format!("此分享链接已于 {} 被撤销。", rfc3339(at)),
            format!("This share link was revoked at {}.", rfc3339(at)),
        ),
        Closed::Error(e) => return e.into_response(),
    };
    let body = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>exhibit</title><style>{STYLE}</style></head><body><main><h1 data-key=\"closed\">{zh}</h1><p lang=\"en\">{en}</p>\
         <p>请向法院索取新的链接。 Ask the court for a new link.</p></main></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

pub(crate) const STYLE: &str = "body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;margin:0;background:#f4f4f2;color:#222}\
main{max-width:960px;margin:auto;padding:16px}h1{font-size:1.3em}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;font-size:.95em}\
code{word-break:break-all}img.render{max-width:100%;background:#fff;border:1px solid #ccc}\
.row{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}a.button{display:inline-block;padding:8px 14px;\
background:#234;color:#fff;text-decoration:none;border-radius:4px}\
section.live canvas{width:100%;height:62vh;display:block;background:#111;touch-action:none;border-radius:4px}\
section.live[data-state=failed] canvas,section.live[data-state=failed] .views{display:none}\
section.live[data-state=failed] #status{color:#a00;font-weight:bold}\
.views{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0}.views button{padding:6px 10px;font-size:.9em}\
.hint{color:#666;font-size:.85em}\
.compare .panes{display:flex;gap:4px;position:relative}.compare .panes canvas{width:50%;height:56vh}\
.compare[data-layout=swipe] .panes canvas{width:100%}\
.compare[data-layout=swipe] #view3d-b{position:absolute;left:0;top:0}\
.compare[data-layout=overlay] #view3d-b,.compare[data-layout=heat] #view3d-b{display:none}\
.compare[data-layout=overlay] #view3d,.compare[data-layout=heat] #view3d{width:100%}\
.legend .bar{height:14px;border:1px solid #999}.legend .ticks{display:flex;justify-content:space-between;font-size:.85em}\
.compare:not([data-layout=swipe]) #swipe{display:none}";

use crate::api::escape_html as escape;

/// Record a visit through a link; the visit is refused when it cannot be recorded.
async fn source_and_log(
    state: &AppState,
    headers: &HeaderMap,
    source: &str,
    link: &Link,
    action: &str,
    detail: &str,
) -> ApiResult<()> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    auth::record_event(
        state,
        &format!("share {}", link.id),
        "share_link",
        source,
        action,
        Some(link.case),
        &format!("model {}", link.model),
        "ok",
        format!("{detail} {agent}").trim(),
    )
    .await
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.to_string());
    let link = match open_link(&state, &token).await {
        Ok(link) => link,
        Err(closed) => return closed_page(closed),
    };
    if let Err(e) = source_and_log(&state, &headers, &source, &link, "share_viewed", "").await {
        return e.into_response();
    }
    match page_html(&state, &link).await {
        Ok(html) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn manifest_rows(state: &AppState, manifest_sha: Option<&str>) -> String {
    let Some(sha) = manifest_sha else {
        return "<tr><th>清单 Manifest</th><td>此模型没有 exhibit 清单：来源与误差未记录。 This model carries no exhibit manifest: its origin and error bounds are not recorded.</td></tr>".to_owned();
    };
    let Ok(bytes) = crate::download::read_checked(state, sha).await else {
        return "<tr><th>清单 Manifest</th><td>无法读取 could not be read</td></tr>".to_owned();
    };
    let Ok(m) = serde_json::from_slice::<codec::manifest::Manifest>(&bytes) else {
        return "<tr><th>清单 Manifest</th><td>无法解析 could not be parsed</td></tr>".to_owned();
    };
    let size_mm: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "{:.1}",
                (m.geometry.bounds_max_m[i] - m.geometry.bounds_min_m[i]) * 1000.0
            )
        })
        .collect();
    let inputs: Vec<String> = m
        .inputs
        .iter()
        .map(|i| {
            format!(
                "{} <code>{}</code> ({} bytes)",
                escape(&i.name),
                i.sha256,
                i.bytes
            )
        })
        .collect();
    let steps: Vec<String> = m.steps.iter().map(|s| escape(&s.name)).collect();
    let total = m.surface.measured_vertices + m.surface.reconstructed_vertices;
    let measured = if total > 0 {
        format!(
            "{:.1} % 实测 measured, {:.1} % 重建 reconstructed (area)",
            100.0 * (1.0 - m.surface.reconstructed_area_fraction),
            100.0 * m.surface.reconstructed_area_fraction
        )
    } else {
        "未记录 not recorded".to_owned()
    };
    format!(
        "<tr><th>清单 Manifest</th><td><code>{sha}</code></td></tr>\
         <tr><th>软件 Software</th><td>{}</td></tr>\
         <tr><th>几何 Geometry</th><td>{} vertices, {} triangles, {} points; {} × {} × {} mm</td></tr>\
         <tr><th>精度 Precision</th><td data-key=\"precision\">{} mm requested; measured max position error {:.4} mm</td></tr>\
         <tr><th>表面 Surface</th><td>{measured}</td></tr>\
         <tr><th>原始扫描 Raw scans</th><td>{}</td></tr>\
         <tr><th>处理步骤 Steps</th><td>{}</td></tr>",
        escape(&m.software),
        m.geometry.vertices,
        m.geometry.triangles,
        m.geometry.points,
        size_mm[0],
        size_mm[1],
        size_mm[2],
        m.error_bounds.precision_mm,
        m.error_bounds.max_position_error_mm,
        if inputs.is_empty() {
            "未记录 not recorded".to_owned()
        } else {
            inputs.join("<br>")
        },
        if steps.is_empty() {
            "—".to_owned()
        } else {
            steps.join(" → ")
        },
    )
}

async fn page_html(state: &AppState, link: &Link) -> ApiResult<String> {
    let facts = model_facts(state, &link.model)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let base = format!("/s/{}", link.token);
    let manifest = manifest_rows(state, facts["manifest_sha256"].as_str()).await;
    // The log's checkpoint, this visit included: the page is a receipt too.
    let checkpoint = crate::log_api::current_checkpoint(state).await?.map_or_else(String::new, |cp| {
        format!(
            "<tr><th>保管日志 Custody log</th><td data-key=\"checkpoint\">{} events, root <code>{}</code>, \
             signed <code>{}</code> by <code>{}</code> ({})</td></tr>",
            cp.size,
            cp.root,
            cp.signature,
            cp.public_key,
            escape(&cp.origin)
        )
    });
    let other = match &link.other {
        Some(other) => match model_facts(state, other).await? {
            Some(f) => format!(
                "<tr><th>对比模型 Compared with</th><td>{} v{} <code>{}</code> <a href=\"{base}/other.glb\">下载 download</a></td></tr>",
                escape(f["label"].as_str().unwrap_or("")),
                f["version"],
                other
            ),
            None => String::new(),
        },
        None => String::new(),
    };
    let saved = match link.comparison {
        Some(id) => Some(crate::comparisons::comparison_json(state, id).await?),
        None => None,
    };
    let comparison = match &saved {
        Some(saved) => comparison_section(state, saved, &base).await,
        None => String::new(),
    };
    // Two models: the live view places B by the saved comparison's transform, or as placed.
    let compare_transform = match (&link.other, &saved) {
        (None, _) => None,
        (Some(_), None) => Some(("[]".to_owned(), 0.5)),
        (Some(_), Some(saved)) => Some((
            saved["summary"]["transform"].to_string(),
            saved["summary"]["tolerance_mm"].as_f64().unwrap_or(0.5),
        )),
    };
    let confirmations =
        crate::confirm::of_version(state, facts["version_id"].as_i64().unwrap_or_default()).await?;
    let confirmations = if confirmations.is_empty() {
        "<tr><th>当事人确认 Confirmations</th><td data-key=\"confirmations\">尚无 none yet</td></tr>".to_owned()
    } else {
        let items: Vec<String> = confirmations
            .iter()
            .map(|c| {
                format!(
                    "{} ({}{}): {}{}{}",
                    escape(c["by"].as_str().unwrap_or("")),
                    c["role"].as_str().unwrap_or(""),
                    c["side"]
                        .as_str()
                        .map(|s| format!(", {s}"))
                        .unwrap_or_default(),
                    if c["decision"] == "confirm" {
                        "确认 confirms"
                    } else {
                        "异议 objects"
                    },
                    c["reason"]
                        .as_str()
                        .filter(|r| !r.is_empty())
                        .map(|r| format!(": {}", escape(r)))
                        .unwrap_or_default(),
                    if c["signature_verifies"] == true {
                        " — 签名有效 signature verifies"
                    } else {
                        " — 签名无效 SIGNATURE DOES NOT VERIFY"
                    },
                )
            })
            .collect();
        format!(
            "<tr><th>当事人确认 Confirmations</th><td data-key=\"confirmations\">{}</td></tr>",
            items.join("<br>")
        )
    };
    let view = link
        .view
        .as_deref()
        .map(|v| {
            format!(
                "<tr><th>视角 View</th><td data-key=\"view\">{}</td></tr>",
                escape(v)
            )
        })
        .unwrap_or_default();
    Ok(format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>{label} — exhibit</title>\
         <style>{STYLE}</style></head><body><main>\
         <h1>{court} {number}：{label}（第 {version} 版）</h1><p lang=\"en\">{title} — evidence {label}, version {version}. View only; \
         this link expires {expires}.</p>\
         {live}<div class=\"row\"><img class=\"render\" src=\"{base}/render.png\" alt=\"render of the model\" width=\"800\">\
         <div><img src=\"{base}/qr.svg\" alt=\"QR code of this link\" width=\"180\"><p><a class=\"button\" href=\"{base}/model.glb\" download=\"{filename}\">下载模型 Download model (GLB)</a></p></div></div>{comparison}\
         <table>\
         <tr><th>案号 Case</th><td data-key=\"case\">{number}</td></tr>\
         <tr><th>证据 Evidence</th><td>{label} ({kind})</td></tr>\
         <tr><th>版本 Version</th><td data-key=\"version\">{version}, uploaded {uploaded}</td></tr>\
         <tr><th>SHA-256</th><td><code data-key=\"sha256\">{sha}</code></td></tr>\
         <tr><th>大小 Size</th><td>{bytes} bytes</td></tr>{confirmations}{other}{view}{manifest}\
         <tr><th>有效期 Expires</th><td data-key=\"expires\">{expires}</td></tr>{checkpoint}\
         </table>\
         <p>每次打开此链接都会记录在案。 Every opening of this link is recorded.</p>\
         </main></body></html>",
        live = crate::pages::viewer_block(
            state,
            &base,
            compare_transform
                .as_ref()
                .map(|(t, tol)| (t.as_str(), *tol))
        ),
        court = escape(facts["court"].as_str().unwrap_or("")),
        number = escape(facts["case_number"].as_str().unwrap_or("")),
        title = escape(facts["title"].as_str().unwrap_or("")),
        label = escape(facts["label"].as_str().unwrap_or("")),
        kind = escape(facts["kind"].as_str().unwrap_or("")),
        filename = escape(facts["filename"].as_str().unwrap_or("model.glb")),
        version = facts["version"],
        uploaded = facts["uploaded_at"].as_str().unwrap_or(""),
        sha = link.model,
        bytes = facts["bytes"],
        expires = rfc3339(link.expires_ms),
    ))
}

fn link_or_page(result: Result<Link, Closed>) -> Result<Link, Box<Response>> {
    result.map_err(|c| Box::new(closed_page(c)))
}

pub async fn model(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    link_download(&state, &token, &headers, peer, false).await
}

pub async fn other_model(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    link_download(&state, &token, &headers, peer, true).await
}

/// A model through a link (the first, or a comparison's second), logged as the link's download.
async fn link_download(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    other: bool,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.to_string());
    let link = match link_or_page(open_link(state, token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    let sha = if other {
        link.other.clone()
    } else {
        Some(link.model.clone())
    };
    let Some(sha) = sha else {
        return ApiError::not_found().into_response();
    };
    let detail = if other { "other" } else { "" };
    if let Err(e) = source_and_log(state, headers, &source, &link, "share_download", detail).await {
        return e.into_response();
    }
    crate::download::serve_blob(state, headers, &sha)
        .await
        .into_response()
}

/// The model drawn by the previewer, made once and kept as a blob.
pub async fn render(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let link = match link_or_page(open_link(&state, &token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    match preview_png(&state, &link.model).await {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            png,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn preview_png(state: &AppState, model: &str) -> ApiResult<Vec<u8>> {
    if let Some(row) = sqlx::query("SELECT previews.png_sha256, blobs.bytes FROM previews JOIN blobs ON blobs.sha256 = previews.png_sha256 WHERE model_sha256 = $1")
        .bind(model)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a preview", &e))?
    {
        let sha: String = row.get(0);
        if let Ok(bytes) = crate::download::read_checked(state, &sha).await {
            return Ok(bytes);
        }
        tracing::warn!("preview {sha} is damaged; drawing it again");
    }
    let Some(previewer) = state.config.previewer.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this store draws no previews (started without a renderer)",
        ));
    };
    let glb = crate::download::read_checked(state, model).await?;
    let png = tokio::task::spawn_blocking(move || previewer(&glb))
        .await
        .map_err(|e| ApiError::internal("drawing a preview", e))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("drawing a preview: {e:#}"),
            )
        })?;
    let sha = codec::manifest::sha256_hex(&png);
    state
        .blobs
        .put(&sha, png.clone())
        .await
        .map_err(|e| ApiError::storage("storing a preview", &e))?;
    let _guard = state.db.write().await;
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    crate::db::record_blob(&mut tx, &sha, png.len() as u64, now_ms())
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    sqlx::query("INSERT INTO previews (model_sha256, png_sha256) VALUES ($1, $2) ON CONFLICT (model_sha256) DO UPDATE SET png_sha256 = $2")
        .bind(model)
        .bind(&sha)
        .execute(&mut *tx)
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    tx.commit()
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    Ok(png)
}

fn qr_of(state: &AppState, link: &Link) -> ApiResult<qrcode::QrCode> {
    let url = link_url(&format!("{}/s/{}", state.public_url, link.token));
    qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::internal("drawing the QR code", e))
}

pub async fn qr_png(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let link = match link_or_page(open_link(&state, &token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    let result = qr_of(&state, &link).and_then(|code| {
        let image = code
            .render::<image::Luma<u8>>()
            .min_dimensions(320, 320)
            .quiet_zone(true)
            .build();
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(image)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| ApiError::internal("encoding the QR code", e))?;
        Ok(png)
    });
    match result {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            png,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn qr_svg(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let link = match link_or_page(open_link(&state, &token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    match qr_of(&state, &link) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build();
            (
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                svg,
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The saved comparison a link shows: heat map, alignment, figures, histogram, and where the report is.
async fn comparison_section(state: &AppState, saved: &Value, base: &str) -> String {
    let id = &saved["id"];
    let report: Value = match saved["report_sha256"].as_str() {
        Some(sha) => crate::download::read_checked(state, sha)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let s = &saved["summary"];
    let mm = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "—".to_owned(), |x| format!("{x:.4}"))
    };
    let transform: Vec<String> = s["transform"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|v| format!("{:.6}", v.as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    // Column-major 4x4, shown as rows.
    let rows: Vec<String> = (0..4)
        .map(|r| {
            (0..4)
                .map(|c| transform.get(c * 4 + r).cloned().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect();
    let alignment = &report["alignment"];
    let heat = if saved["heat_map_sha256"].is_string() {
        format!(
            "<img class=\"render\" src=\"{base}/heat-map.png\" alt=\"heat map of the deviation\" width=\"800\" data-key=\"heat-map\">"
        )
    } else {
        "<p>保存时未附热图。 Saved without a heat map.</p>".to_owned()
    };
    format!(
        "<section data-key=\"comparison\"><h2>比对 Comparison {id}</h2>{heat}\
         <table>\
         <tr><th>模型 A (被测)</th><td><code>{a}</code></td></tr>\
         <tr><th>模型 B (参照)</th><td><code>{b}</code></td></tr>\
         <tr><th>对齐 Alignment</th><td data-key=\"alignment\">{method}; {start}rotation {rot}°, translation {tr} mm, RMS {arms} mm</td></tr>\
         <tr><th>变换 Transform B→A</th><td><pre>{matrix}</pre></td></tr>\
         <tr><th>偏差 Deviation</th><td data-key=\"deviation\">mean {mean} mm, RMS {rms} mm, 95 % within {p95} mm, max {max} mm</td></tr>\
         <tr><th>公差 Tolerance</th><td data-key=\"within\">±{tol} mm: {within:.2} % within{invented}</td></tr>\
         <tr><th>直方图 Histogram</th><td>{histogram}</td></tr>\
         <tr><th>报告 Report</th><td><a href=\"{base}/comparison.json\">JSON</a> <code>{report_sha}</code>; \
         saved by {by} ({role}) at {at}</td></tr>\
         </table></section>",
        a = escape(saved["a"].as_str().unwrap_or("")),
        b = escape(saved["b"].as_str().unwrap_or("")),
        method = escape(s["method"].as_str().unwrap_or("")),
        start = alignment["start"]
            .as_str()
            .map(|t| format!("start {}, ", escape(t)))
            .unwrap_or_default(),
        rot = mm(&alignment["rotation_deg"]),
        tr = mm(&alignment["translation_mm"]),
        arms = mm(&s["rms_alignment_mm"]),
        matrix = rows.join("\n"),
        mean = mm(&s["mean_mm"]),
        rms = mm(&s["rms_mm"]),
        p95 = mm(&s["p95_mm"]),
        max = mm(&s["max_mm"]),
        tol = s["tolerance_mm"],
        within = s["within_tolerance"].as_f64().unwrap_or(0.0) * 100.0,
        invented = match report["statistics"]["invented_share"].as_f64() {
            Some(share) if share > 0.0 => format!(
                "; {:.2} % measured against surface a reconstruction filled in \
                 (与重建填补表面比较，推测，非实测)",
                share * 100.0
            ),
            _ => String::new(),
        },
        histogram = histogram_svg(&report["statistics"]["histogram"]),
        report_sha = escape(saved["report_sha256"].as_str().unwrap_or("")),
        by = escape(saved["created_by"].as_str().unwrap_or("")),
        role = escape(saved["created_by_role"].as_str().unwrap_or("")),
        at = escape(saved["created_at"].as_str().unwrap_or("")),
    )
}

/// The report's histogram of signed deviations as bars, with the edges in millimetres.
fn histogram_svg(bins: &Value) -> String {
    let Some(bins) = bins.as_array().filter(|b| !b.is_empty()) else {
        return "—".to_owned();
    };
    let counts: Vec<f64> = bins
        .iter()
        .map(|b| b["count"].as_f64().unwrap_or(0.0))
        .collect();
    let top = counts.iter().copied().fold(1.0, f64::max);
    let (width, height) = (400.0, 120.0);
    let bar = width / counts.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" data-key=\"histogram\" role=\"img\" aria-label=\"histogram\">",
        height + 16.0
    );
    for (i, count) in counts.iter().enumerate() {
        let h = height * count / top;
        let _ = std::fmt::Write::write_fmt(
            &mut svg,
            format_args!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#468\"><title>{} … {} mm: {count}</title></rect>",
                i as f64 * bar + 1.0,
                height - h,
                bar - 2.0,
                bins[i]["from_mm"],
                bins[i]["to_mm"],
            ),
        );
    }
    let first = bins[0]["from_mm"].as_f64().unwrap_or(0.0);
    let last = bins[bins.len() - 1]["to_mm"].as_f64().unwrap_or(0.0);
    let _ = std::fmt::Write::write_fmt(
        &mut svg,
        format_args!(
            "<text x=\"0\" y=\"{y}\" font-size=\"11\">{first:.3} mm</text><text x=\"{width}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\">{last:.3} mm</text></svg>",
            y = height + 13.0
        ),
    );
    svg
}

/// A comparison link's heat map, or its report (`which`), logged as the link's download.
async fn comparison_part(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    heat_map: bool,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.to_string());
    let link = match link_or_page(open_link(state, token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    let Some(id) = link.comparison else {
        return ApiError::new(StatusCode::NOT_FOUND, "this link is not to a comparison")
            .into_response();
    };
    let saved = match crate::comparisons::comparison_json(state, id).await {
        Ok(saved) => saved,
        Err(e) => return e.into_response(),
    };
    let (field, content_type, detail) = if heat_map {
        ("heat_map_sha256", "image/png", "heat map")
    } else {
        ("report_sha256", "application/json", "comparison report")
    };
    let Some(sha) = saved[field].as_str() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "this comparison was saved without a heat map",
        )
        .into_response();
    };
    if let Err(e) = source_and_log(state, headers, &source, &link, "share_download", detail).await {
        return e.into_response();
    }
    crate::comparisons::part(state, sha, content_type).await
}

pub async fn heat_map(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    comparison_part(&state, &token, &headers, peer, true).await
}

pub async fn comparison_report(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    comparison_part(&state, &token, &headers, peer, false).await
}
