//! Every role × action × own/other case, in process: the same table as the end-to-end test over HTTP
//! (`tests/roles_table.in`, shared with `tests/it/store.rs`), written out independently of `services/auth.rs`, each cell a real request through
//! `router().oneshot()`.

use axum::http::{Request, StatusCode};
use base64::Engine as _;
use serde_json::json;

use crate::app::{App, sample_glb};

include!("../../../tests/roles_table.in");

#[tokio::test]
async fn every_role_and_action_answers_as_the_table_says() {
    let app = App::new().await;
    let court = app.court().await;
    let (_, appellate) = app.user("appellate", "appellate").await;
    // The outsider's case, with a model of its own.
    let other_case: i64 = 2;
    let other_evidence = app
        .create(
            &format!("/api/cases/{other_case}/evidence"),
            &app.admin,
            json!({ "label": "其他", "kind": "other", "submitted_by": "x" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let mut other_glb = sample_glb();
    // A model of its own: the sample with another generator string, so another hash.
    let chunks = codec::glb::parse_glb(&other_glb).unwrap();
    let mut root: serde_json::Value = serde_json::from_slice(chunks.json).unwrap();
    root["asset"]["generator"] = json!("another model");
    other_glb = codec::glb::write_glb(&root, chunks.bin.unwrap_or_default());
    let uploaded = app
        .upload(
            &court.technician,
            other_case,
            other_evidence,
            "model",
            "other.glb",
            &other_glb,
        )
        .await;
    assert_eq!(
        uploaded.status,
        StatusCode::NO_CONTENT,
        "{}",
        uploaded.text()
    );
    let other_model = codec::manifest::sha256_hex(&other_glb);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut n = 0;
    for (action, role, own, other) in EXPECTED {
        let token = match *role {
            "admin" => app.admin.clone(),
            "technician" => court.technician.clone(),
            "judge" => court.judge.clone(),
            "party" => court.plaintiff.clone(),
            "appellate" => appellate.clone(),
            _ => unreachable!(),
        };
        for (scope, expected) in [("own", own), ("other", other)] {
            let (case, evidence, model) = if scope == "own" {
                (court.case, court.evidence, court.model.clone())
            } else {
                (other_case, other_evidence, other_model.clone())
            };
            n += 1;
            let answer = match *action {
                "read_case" => app.get(&format!("/api/cases/{case}"), &token).await,
                "add_evidence" => {
                    app.post(
                        &format!("/api/cases/{case}/evidence"),
                        &token,
                        json!({ "label": format!("item {n}"), "kind": "other", "submitted_by": "x" }),
                    )
                    .await
                }
                "upload" => {
                    let metadata = format!(
                        "sha256 {},filename eC5nbGI=,case {},evidence {}",
                        b64(&"a".repeat(64)),
                        b64(&case.to_string()),
                        b64(&evidence.to_string())
                    );
                    app.send(
                        Request::post("/api/uploads")
                            .header("authorization", format!("Bearer {token}"))
                            .header("tus-resumable", "1.0.0")
                            .header("upload-length", "10")
                            .header("upload-metadata", metadata)
                            .body(axum::body::Body::empty())
                            .unwrap(),
                    )
                    .await
                }
                "share" => {
                    app.post("/api/shares", &token, json!({ "model": model, "expires_in_s": 60 }))
                        .await
                }
                "manage_members" => {
                    let (judge, _) = app.user(&format!("judge {n}"), "judge").await;
                    app.post(
                        &format!("/api/cases/{case}/members"),
                        &token,
                        json!({ "user": judge, "role": "judge" }),
                    )
                    .await
                }
                "create_case" => {
                    app.post(
                        "/api/cases",
                        &token,
                        json!({ "number": format!("case {n}"), "court": "c", "title": "t" }),
                    )
                    .await
                }
                "manage_users" => {
                    app.post(
                        "/api/users",
                        &token,
                        json!({ "name": format!("user {n}"), "role": "party" }),
                    )
                    .await
                }
                "scrub" => app.post("/api/admin/scrub", &token, json!({})).await,
                "transfer" => app.get(&format!("/api/cases/{case}/bundle"), &token).await,
                "confirm" => {
                    app.post(
                        &format!("/api/versions/{model}/confirmations"),
                        &token,
                        json!({ "decision": "confirm" }),
                    )
                    .await
                }
                "compare" => {
                    let identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
                    app.post(
                        &format!("/api/cases/{case}/comparisons"),
                        &token,
                        json!({ "report": {
                            "a": { "sha256": model }, "b": { "sha256": model },
                            "alignment": { "method": "none", "rms_mm": 0.0 },
                            "transform": identity, "mean_mm": 0.0, "rms_mm": 0.0, "p95_mm": 0.0,
                            "max_mm": 0.0, "tolerance_mm": 0.5, "within_tolerance": 1.0,
                        } }),
                    )
                    .await
                }
                _ => unreachable!(),
            };
            let got = match answer.status.as_u16() {
                200..=299 => "A",
                403 => "D",
                404 => "H",
                other => panic!(
                    "{action} by {role} in {scope} case: unexpected {other} {}",
                    answer.text()
                ),
            };
            assert_eq!(
                got,
                *expected,
                "{action} by {role} in the {scope} case: {}",
                answer.text()
            );
            if got == "H" {
                assert_eq!(
                    answer.json(),
                    json!({ "error": "not found", "status": 404 })
                );
            }
        }
    }
}
