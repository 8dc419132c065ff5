//! The browser's pages beside the API: the web viewer's files under `/app/`, the live viewer a share page
//! embeds, and the case page for signed-in users. Their scripts live in `web/www` and read the API like any
//! client; nothing here holds data a caller could not fetch through the API.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::share::STYLE;

/// The web viewer's files (`scripts/build-web`) with their content types: all that `/app/` serves, and all a
/// folder must hold to be served (one missing would leave pages half working).
pub const WEB_APP_FILES: [(&str, &str); 4] = [
    ("exhibit_web.js", "text/javascript; charset=utf-8"),
    ("exhibit_web_bg.wasm", "application/wasm"),
    ("viewer.js", "text/javascript; charset=utf-8"),
    ("case.js", "text/javascript; charset=utf-8"),
];

/// `dir` when it holds every file of [`WEB_APP_FILES`]; otherwise a sentence naming what it lacks.
pub fn check_web_dir(dir: &std::path::Path) -> Result<(), String> {
    let missing: Vec<&str> = WEB_APP_FILES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{} lacks {}", dir.display(), missing.join(", ")))
    }
}

/// `GET /app/FILE`: the web viewer's files (`scripts/build-web`), by name from a fixed list.
pub async fn web_app_file(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(&(_, content_type)) = WEB_APP_FILES.iter().find(|(name, _)| *name == file) else {
        return ApiError::not_found().into_response();
    };
    let Some(dir) = &state.config.web_dir else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "this store serves no web viewer (build it with scripts/build-web)",
        )
        .into_response();
    };
    // scripts/build-web writes a gzipped copy beside each file: a phone on a slow link fetches a third.
    let gzip_accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip_accepted && let Ok(bytes) = tokio::fs::read(dir.join(format!("{file}.gz"))).await {
        return (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "Accept-Encoding"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response();
    }
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::VARY, "Accept-Encoding"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::new(StatusCode::NOT_FOUND, format!("{file}: {e}")).into_response(),
    }
}

/// What a share page does when the web viewer's script cannot even load (a store whose viewer files went
/// missing, a proxy that blocks them): say so in both languages and leave the rendered picture to show the
/// model, instead of an empty canvas that says "Loading…" forever. `viewer.js` does the same for every
/// failure after it has loaded (no WebGL, the wasm missing, a broken download).
const UNAVAILABLE: &str = "(error) => { const s = document.getElementById('status'); \
    s.closest('section.live').dataset.state = 'failed'; document.documentElement.dataset.state = 'error'; \
    s.textContent = '实时三维视图无法载入，请看下方的渲染图。 The live 3D view cannot load here; \
    the rendered picture below shows the model. (' + error + ')'; }";

/// The live viewer on a share page, when the store serves the web app: a canvas, the design-patent views,
/// and a line that says what is shown (level, error bound, whether the geometry matches its manifest).
/// With a second model (`compare`: the saved comparison's transform as JSON, `[]` for as placed), two panes
/// with one camera, and the side-by-side, swipe and overlay layouts.
pub(crate) fn viewer_block(state: &AppState, base: &str, compare: Option<(&str, f64)>) -> String {
    if state.config.web_dir.is_none() {
        return String::new();
    }
    let views = [
        ("front", "主视图 front"),
        ("back", "后视图 back"),
        ("left", "左视图 left"),
        ("right", "右视图 right"),
        ("top", "俯视图 top"),
        ("bottom", "仰视图 bottom"),
        ("iso", "立体图 iso"),
    ]
    .iter()
    .fold(String::new(), |mut out, (key, label)| {
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!("<button type=\"button\" data-view=\"{key}\">{label}</button>"),
        );
        out
    });
    let hint =
        "<p class=\"hint\">单指旋转，双指平移缩放 One finger turns, two fingers pan and pinch.</p>";
    let status = "<p id=\"status\" data-key=\"viewer-status\">载入中 Loading…</p>";
    let Some((transform, tolerance)) = compare else {
        return format!(
            "<section class=\"live\"><canvas id=\"view3d\" aria-label=\"3D view of the model\"></canvas>\
             <div class=\"views\">{views}</div>{status}{hint}</section>\
             <script type=\"module\">import('/app/viewer.js').then(({{ openViewer }}) => \
             openViewer({{ canvas: document.getElementById('view3d'), url: '{base}/model.glb', \
             status: document.getElementById('status'), started: 0 }})).catch({UNAVAILABLE});</script>"
        );
    };
    format!(
        "<section class=\"live compare\" id=\"compare\" data-layout=\"side\">\
         <div class=\"panes\"><canvas id=\"view3d\" aria-label=\"model A\"></canvas>\
         <canvas id=\"view3d-b\" data-pane=\"b\" aria-label=\"model B\"></canvas></div>\
         <div class=\"views\"><button type=\"button\" data-layout=\"side\">并排 side by side</button>\
         <button type=\"button\" data-layout=\"swipe\">滑动 swipe</button>\
         <button type=\"button\" data-layout=\"overlay\">叠加 overlay</button>\
         <button type=\"button\" data-layout=\"heat\">热图 heat map</button>\
         <input id=\"swipe\" type=\"range\" min=\"0\" max=\"100\" value=\"50\" aria-label=\"swipe\"></div>\
         <div id=\"legend\" class=\"legend\" hidden></div>\
         <div class=\"views\">{views}</div>{status}\
         <p class=\"hint\">左/下 A：被测模型；右/上 B：对比模型，按保存的比对对齐。 A (left): the model measured; \
         B (right): the model compared, aligned as the saved comparison records. One camera for both.</p>{hint}</section>\
         <script type=\"module\">import('/app/viewer.js').then(({{ openComparison }}) => \
         openComparison({{ canvasA: document.getElementById('view3d'), canvasB: document.getElementById('view3d-b'), \
         urlA: '{base}/model.glb', urlB: '{base}/other.glb', transform: {transform}, tolerance: {tolerance}, \
         legend: document.getElementById('legend'), \
         status: document.getElementById('status'), swipe: document.getElementById('swipe'), \
         frame: document.getElementById('compare'), started: 0 }})).catch({UNAVAILABLE});</script>"
    )
}

/// `GET /cases/{case}`: the case page for signed-in users. The page itself holds no data: its script
/// (`/app/case.js`) asks the API with the token the user enters (kept in the tab's sessionStorage), so every
/// read is authorized and logged like any other.
pub async fn case_page(
    State(state): State<Arc<AppState>>,
    UrlPath(case): UrlPath<String>,
) -> Response {
    let Ok(case) = case.parse::<i64>() else {
        return ApiError::not_found().into_response();
    };
    let body = if state.config.web_dir.is_none() {
        "<main><h1>此服务器未提供网页应用 This store serves no web app</h1>\
         <p>Build it with scripts/build-web, or use the API.</p></main>"
            .to_owned()
    } else {
        format!(
            "<main id=\"case\"><p>载入中 Loading…</p></main>\
             <script type=\"module\">import {{ openCase }} from '/app/case.js';\
             openCase({{ main: document.getElementById('case'), caseId: {case} }});</script>"
        )
    };
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(format!(
            "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><link rel=\"icon\" href=\"data:,\">\
             <title>案件 Case {case} — exhibit</title><style>{STYLE}\
             .objection,.object{{color:#a00}}section.item{{margin:12px 0}}</style></head><body>{body}</body></html>"
        )),
    )
        .into_response()
}
