//! The custody report of a case: one printable HTML page (A4) in Chinese and English, with every evidence
//! item's hashes, capture facts, processing steps, confirmations and objections, the custody timeline
//! with each event's position and leaf hash in the log, the log's signed checkpoint, and a QR code to
//! the case's live view.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use sqlx::Row as _;

use crate::AppState;
use crate::auth::{self, Action, Caller};
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};

use crate::api::escape_html as escape;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => escape(s),
        Value::Null => "—".to_owned(),
        other => escape(&other.to_string()),
    }
}

const STYLE: &str = "@page{size:A4;margin:16mm}body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;\
font-size:10pt;color:#111;max-width:190mm;margin:auto}h1{font-size:15pt}h2{font-size:12pt;border-bottom:1px solid #444;\
margin-top:18px}h3{font-size:11pt;margin-bottom:4px}table{border-collapse:collapse;width:100%;margin:4px 0}\
td,th{border:1px solid #bbb;padding:3px 5px;text-align:left;vertical-align:top}th{background:#eee;width:28%}\
code{font-size:8.5pt;word-break:break-all}.objection{color:#a00;font-weight:bold}.bad{color:#a00}\
section{page-break-inside:avoid}.timeline td{font-size:8.5pt}header{display:flex;justify-content:space-between;gap:12px}";

/// `GET /api/cases/{case}/report`.
pub async fn case_report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Response> {
    let id: i64 = case.parse().map_err(|_| ApiError::not_found())?;
    sqlx::query("SELECT 1 FROM cases WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a case", &e))?
        .ok_or_else(ApiError::not_found)?;
    auth::authorize_as(
        &state,
        &caller,
        Action::ReadCase,
        Some(id),
        &format!("case {id}"),
        "custody_report",
        "",
    )
    .await?;
    let html = render(&state, id, &caller.name).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

async fn render(state: &AppState, id: i64, reader: &str) -> ApiResult<String> {
    let case = crate::api::case_json(state, id).await?;
    let checkpoint = crate::log_api::current_checkpoint(state).await?;
    let live = format!("{}/api/cases/{id}", state.public_url);
    let qr = qrcode::QrCode::new(live.as_bytes())
        .map(|c| {
            c.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(120, 120)
                .build()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let parties: Vec<String> = case["parties"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} ({})", text(&p["name"]), text(&p["side"])))
        .collect();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>证据保管报告 Custody report {number}</title>\
         <style>{STYLE}</style></head><body><header><div><h1>证据保管报告 Custody report</h1>\
         <table><tr><th>法院 Court</th><td>{court}</td></tr><tr><th>案号 Case</th><td data-key=\"case\">{number}</td></tr>\
         <tr><th>案由 Title</th><td>{title}</td></tr><tr><th>当事人 Parties</th><td>{parties}</td></tr>\
         <tr><th>生成 Generated</th><td>{now} UTC, for {reader}</td></tr></table></div>\
         <div>{qr}<br><small>在线查看 Live view<br><code>{live}</code></small></div></header>",
        number = text(&case["number"]),
        court = text(&case["court"]),
        title = text(&case["title"]),
        parties = parties.join("; "),
        now = rfc3339(crate::db::now_ms()),
        reader = escape(reader),
        live = escape(&live),
    );
    match &checkpoint {
        Some(cp) => {
            let _ = write!(
                out,
                "<section><h2>保管日志检查点 Custody log checkpoint</h2><table>\
                 <tr><th>来源 Origin</th><td>{}</td></tr><tr><th>事件数 Tree size</th><td data-key=\"log-size\">{}</td></tr>\
                 <tr><th>根哈希 Root (RFC 6962)</th><td><code data-key=\"log-root\">{}</code></td></tr>\
                 <tr><th>签名 Ed25519 signature</th><td><code>{}</code></td></tr>\
                 <tr><th>公钥 Public key</th><td><code>{}</code></td></tr></table>\
                 <p>任何人可用此检查点核验下列每一事件的包含证明。 Anyone can check each event below against this checkpoint \
                 with its inclusion proof (<code>/api/log/inclusion?seq=N</code>).</p></section>",
                escape(&cp.origin),
                cp.size,
                cp.root,
                cp.signature,
                cp.public_key
            );
        }
        None => out.push_str("<p>保管日志为空 The custody log is empty.</p>"),
    }
    let evidence = sqlx::query("SELECT id FROM evidence WHERE case_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading evidence", &e))?;
    out.push_str("<h2>证据 Evidence</h2>");
    for row in evidence {
        let (_, item) = crate::api::evidence_json(state, row.get(0)).await?;
        evidence_section(state, &mut out, &item).await?;
    }
    comparisons_section(state, &mut out, id).await?;
    timeline(state, &mut out, id).await?;
    out.push_str("</body></html>");
    Ok(out)
}

/// The saved comparisons: which two models, how aligned, the headline figures, who saved it.
async fn comparisons_section(state: &AppState, out: &mut String, case: i64) -> ApiResult<()> {
    let saved = crate::comparisons::of_case(state, case).await?;
    if saved.is_empty() {
        return Ok(());
    }
    let _ = write!(
        out,
        "<section><h2>比对 Comparisons ({})</h2><table><tr><th>#</th><th>A / B</th><th>对齐 Alignment</th>\
         <th>偏差 Deviation (mm)</th><th>保存 Saved by</th></tr>",
        saved.len()
    );
    for c in &saved {
        let s = &c["summary"];
        let by = match s.get("saved_in_origin") {
            Some(o) => format!(
                "{} ({}) {} @ {}",
                text(&o["by"]),
                text(&o["role"]),
                text(&o["at"]),
                text(&o["origin"])
            ),
            None => format!(
                "{} ({}) {}",
                text(&c["created_by"]),
                text(&c["created_by_role"]),
                text(&c["created_at"])
            ),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>A <code>{}</code><br>B <code>{}</code></td><td>{}; RMS {} mm</td>\
             <td>mean {}, RMS {}, p95 {}, max {}; ±{} mm: {:.2} % within</td><td>{by}<br>report <code>{}</code></td></tr>",
            c["id"],
            text(&c["a"]),
            text(&c["b"]),
            text(&s["method"]),
            text(&s["rms_alignment_mm"]),
            text(&s["mean_mm"]),
            text(&s["rms_mm"]),
            text(&s["p95_mm"]),
            text(&s["max_mm"]),
            text(&s["tolerance_mm"]),
            s["within_tolerance"].as_f64().unwrap_or(0.0) * 100.0,
            text(&c["report_sha256"]),
        );
    }
    out.push_str("</table></section>");
    Ok(())
}

async fn evidence_section(state: &AppState, out: &mut String, item: &Value) -> ApiResult<()> {
    let capture: Vec<String> = item["capture"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{}: {}", escape(k), text(v)))
        .collect();
    let _ = write!(
        out,
        "<section><h3>{label}（{kind}）</h3><table><tr><th>提交人 Submitted by</th><td>{by}</td></tr>\
         <tr><th>描述 Description</th><td>{desc}</td></tr><tr><th>采集 Capture</th><td>{capture}</td></tr>",
        label = text(&item["label"]),
        kind = text(&item["kind"]),
        by = text(&item["submitted_by"]),
        desc = text(&item["description"]),
        capture = if capture.is_empty() {
            "未记录 not recorded".to_owned()
        } else {
            capture.join("<br>")
        },
    );
    for file in item["files"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<tr><th>原始扫描 Raw scan</th><td>{} — {} bytes<br><code data-key=\"raw-sha256\">{}</code></td></tr>",
            text(&file["filename"]),
            file["bytes"],
            text(&file["sha256"])
        );
    }
    out.push_str("</table>");
    for version in item["versions"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<table><tr><th>第 {n} 版 Version {n}</th><td>{file}, {bytes} bytes, uploaded {at} by {by}<br>\
             SHA-256 <code data-key=\"version-sha256\">{sha}</code></td></tr>",
            n = version["version"],
            file = text(&version["filename"]),
            bytes = version["bytes"],
            at = text(&version["created_at"]),
            by = text(&version["uploaded_by"]),
            sha = text(&version["sha256"]),
        );
        manifest_rows(state, out, version["manifest_sha256"].as_str()).await?;
        let confirmations = version["confirmations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if confirmations.is_empty() {
            out.push_str("<tr><th>当事人确认 Confirmations</th><td>尚无 none yet</td></tr>");
        }
        for c in confirmations {
            let objection = c["decision"] == "object";
            let _ = write!(
                out,
                "<tr><th>{}</th><td{}>{} ({}{}) {} — {}{}</td></tr>",
                if objection {
                    "异议 Objection"
                } else {
                    "确认 Confirmation"
                },
                if objection {
                    " class=\"objection\""
                } else {
                    ""
                },
                text(&c["by"]),
                text(&c["role"]),
                c["side"]
                    .as_str()
                    .map(|s| format!(", {}", escape(s)))
                    .unwrap_or_default(),
                text(&c["at"]),
                c["reason"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .map(escape)
                    .unwrap_or_default(),
                if c["signature_verifies"] == true {
                    format!(
                        "<br><small>签名有效 signature verifies; key {} ({})</small>",
                        text(&c["public_key"]),
                        text(&c["key_held_by"])
                    )
                } else {
                    "<br><span class=\"bad\">签名无效 THE SIGNATURE DOES NOT VERIFY</span>"
                        .to_owned()
                }
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
    Ok(())
}

async fn manifest_rows(state: &AppState, out: &mut String, sha: Option<&str>) -> ApiResult<()> {
    let Some(sha) = sha else {
        out.push_str("<tr><th>清单 Manifest</th><td>无 exhibit 清单：来源与误差未记录 none: origin and error bounds not recorded</td></tr>");
        return Ok(());
    };
    let Ok(bytes) = crate::download::read_checked(state, sha).await else {
        let _ = write!(
            out,
            "<tr><th>清单 Manifest</th><td class=\"bad\">{sha}: 已损坏 DAMAGED in storage</td></tr>"
        );
        return Ok(());
    };
    let Ok(m) = serde_json::from_slice::<codec::manifest::Manifest>(&bytes) else {
        let _ = write!(
            out,
            "<tr><th>清单 Manifest</th><td class=\"bad\">{sha}: 无法解析 not readable</td></tr>"
        );
        return Ok(());
    };
    let inputs: Vec<String> = m
        .inputs
        .iter()
        .map(|i| {
            format!(
                "{} ({}, {} bytes, {})<br><code>{}</code>",
                escape(&i.name),
                escape(&i.format),
                i.bytes,
                escape(&i.unit),
                i.sha256
            )
        })
        .collect();
    let steps: Vec<String> = m
        .steps
        .iter()
        .map(|s| {
            format!(
                "{} — {}<br><small><code>{}</code></small>",
                escape(&s.name),
                escape(&s.software),
                escape(&s.params.to_string())
            )
        })
        .collect();
    let _ = write!(
        out,
        "<tr><th>清单 Manifest</th><td><code>{sha}</code><br>{software}</td></tr>\
         <tr><th>原始输入 Raw inputs</th><td>{inputs}</td></tr><tr><th>处理步骤 Steps</th><td>{steps}</td></tr>\
         <tr><th>误差 Error bounds</th><td>precision {p} mm; measured max position error {e:.4} mm; reconstructed area {r:.1} %</td></tr>",
        software = escape(&m.software),
        inputs = if inputs.is_empty() {
            "未记录 not recorded".to_owned()
        } else {
            inputs.join("<br>")
        },
        steps = if steps.is_empty() {
            "—".to_owned()
        } else {
            steps.join("<br>")
        },
        p = m.error_bounds.precision_mm,
        e = m.error_bounds.max_position_error_mm,
        r = 100.0 * m.surface.reconstructed_area_fraction,
    );
    Ok(())
}

async fn timeline(state: &AppState, out: &mut String, case: i64) -> ApiResult<()> {
    let rows = sqlx::query(
        "SELECT seq, at_ms, actor, role, action, object, outcome, leaf_hash FROM events \
         WHERE case_id = $1 ORDER BY seq",
    )
    .bind(case)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading events", &e))?;
    let _ = write!(
        out,
        "<h2>保管时间线 Custody timeline ({} events)</h2><table class=\"timeline\"><tr><th>#</th><th>时间 Time (UTC)</th>\
         <th>人员 Actor</th><th>行为 Action</th><th>对象 Object</th><th>结果 Outcome</th><th>叶哈希 Leaf</th></tr>",
        rows.len()
    );
    for r in &rows {
        let leaf: String = r.get(7);
        let _ = write!(
            out,
            "<tr data-key=\"event\"><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}…</code></td></tr>",
            r.get::<i64, _>(0),
            rfc3339(r.get(1)),
            escape(&r.get::<String, _>(2)),
            escape(&r.get::<String, _>(3)),
            escape(&r.get::<String, _>(4)),
            escape(&r.get::<String, _>(5)),
            escape(&r.get::<String, _>(6)),
            leaf.get(..16).unwrap_or(&leaf)
        );
    }
    out.push_str("</table>");
    Ok(())
}
