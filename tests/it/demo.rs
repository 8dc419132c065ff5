//! Issue 18: the README's first command runs the whole job, from scan to a QR link, on the embedded store.
//! `exhibit demo --serve --json` in a temporary folder, checked from outside as a newcomer and the appellate
//! court would check it: every file it lists exists, the share link's page draws the model in its canvas in
//! Chromium, the QR code decodes to the link, both confirmations verify, the model is re-derived from the
//! store, and the custody log checks.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::store_support::{Api, Guarded, free_port};
use crate::support::{exhibit, run_json};
use crate::web::{browse, web_dist};

/// Start `exhibit demo --serve --json` on loopback; its JSON once the store is serving.
fn start_demo(out: &std::path::Path) -> (Guarded, Value) {
    let port = free_port();
    let mut child = exhibit(&[
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--serve",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--json",
    ])
    // As on the machine where issue 18 was found: Mesa's OpenGL and no Vulkan driver, so the demo's picture
    // and the store's previews are drawn through wgpu's GL backend.
    .env_remove("WGPU_BACKEND")
    .env("VK_ICD_FILENAMES", "/nonexistent/no-vulkan-driver.json")
    .env("VK_DRIVER_FILES", "/nonexistent/no-vulkan-driver.json")
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(out.with_extension("log")).unwrap())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Guarded(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    // Ingest, reconstruction, uploads and the re-derivation: minutes on a busy two-core machine.
    let line = receiver
        .recv_timeout(Duration::from_mins(10))
        .unwrap_or_default();
    let json: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
        panic!(
            "demo printed no JSON ({line:?}); its log:\n{}",
            std::fs::read_to_string(out.with_extension("log")).unwrap_or_default()
        )
    });
    (guard, json)
}

#[test]
fn regression_18_demo_runs_scan_to_store_to_qr_link_and_every_claim_checks() {
    web_dist();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let (_demo, report) = start_demo(&out);
    for field in [
        "files",
        "store_url",
        "share_url",
        "case_page",
        "qr_png",
        "case",
        "model_sha256",
    ] {
        assert!(
            !report[field].is_null(),
            "demo --json lacks {field}: {report}"
        );
    }
    let store = report["store_url"].as_str().unwrap();
    assert!(store.starts_with("http://127.0.0.1:"), "{report}");
    // Every file it lists exists.
    let files = report["files"].as_array().unwrap();
    assert!(files.len() >= 10, "{report}");
    for file in files {
        let path = std::path::Path::new(file.as_str().unwrap());
        assert!(
            path.is_file(),
            "demo listed {} but it is not there",
            path.display()
        );
    }
    assert_eq!(report["case_number"], "(2026)鲁01知民初1号");
    assert_eq!(report["rendered"], true, "{report}");
    assert!(
        report["adapter"].as_str().unwrap().contains("Gl"),
        "drawn without Vulkan: {report}"
    );

    // The QR code, at the size the store draws it, decodes to the link; the symbol is small.
    let url = report["share_url"].as_str().unwrap();
    let png = std::fs::read(report["qr_png"].as_str().unwrap()).unwrap();
    assert_eq!(crate::store::decode_qr(&png), url);
    assert!(report["qr_version"].as_i64().unwrap() <= 10, "{report}");

    // The share page's rendered picture, drawn by the store's previewer on GL.
    let judge_picture = Api::new(store, "").get(&format!("{url}/render.png"));
    assert_eq!(judge_picture.status, 200);
    let picture = image::load_from_memory(&judge_picture.body).unwrap();
    assert_eq!((picture.width(), picture.height()), (800, 600));

    // The link's page draws the model in its canvas, in Chromium (not only the static picture).
    let browser = work.path().join("browser");
    std::fs::create_dir(&browser).unwrap();
    let seen = browse(url, &browser, &[]);
    assert_eq!(seen["state"], "shown", "{seen}");
    let canvas = image::open(browser.join("canvas.png")).unwrap().to_rgba8();
    let background = canvas.get_pixel(2, 2).0;
    let model_pixels = canvas
        .pixels()
        .filter(|p| {
            p.0.iter()
                .zip(&background)
                .take(3)
                .any(|(a, b)| a.abs_diff(*b) > 30)
        })
        .count();
    assert!(
        model_pixels * 20 > canvas.pixels().len(),
        "the canvas shows little but background: {model_pixels} model pixels"
    );

    // Both confirmations verify, read back as the judge reads them.
    let judge = Api::new(store, report["tokens"]["judge"].as_str().unwrap());
    let evidence = judge
        .get(&format!("/api/evidence/{}", report["evidence"]))
        .json();
    let version = evidence["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sha256"] == report["model_sha256"])
        .unwrap();
    let confirmations = version["confirmations"].as_array().unwrap();
    assert_eq!(confirmations.len(), 2, "{version}");
    for confirmation in confirmations {
        assert_eq!(confirmation["decision"], "confirm");
        assert_eq!(confirmation["signature_verifies"], true, "{confirmation}");
    }
    let sides: Vec<&str> = confirmations
        .iter()
        .map(|c| c["side"].as_str().unwrap())
        .collect();
    assert_eq!(sides, ["plaintiff", "defendant"]);

    // The case opens by its court number, for the judge.
    let by_number =
        judge.get("/api/cases/%282026%29%E9%B2%8101%E7%9F%A5%E6%B0%91%E5%88%9D1%E5%8F%B7");
    assert_eq!(by_number.status, 200);
    assert_eq!(by_number.json()["id"], report["case"]);

    // The appellate court's re-derivation from nothing but the hash and a token.
    let verified = run_json(&mut exhibit(&[
        "verify",
        "--model-sha256",
        report["model_sha256"].as_str().unwrap(),
        "--rederive-from",
        store,
        "--token",
        report["tokens"]["judge"].as_str().unwrap(),
        "--json",
    ]));
    assert_eq!(verified["ok"], true, "{verified}");

    // The custody log checks from its first event, and records what the demo did.
    let admin = Api::new(store, report["tokens"]["admin"].as_str().unwrap());
    let log = admin
        .post("/api/admin/log-check", &json!({ "receipts": [] }))
        .json();
    assert_eq!(log["ok"], true, "{log}");
    assert!(log["checked"].as_u64().unwrap() >= 15, "{log}");
    let events = judge
        .get(&format!("/api/cases/{}/events", report["case"]))
        .json()
        .to_string();
    for action in ["case_created", "evidence_added", "share_created"] {
        assert!(events.contains(action), "no {action} in the case's events");
    }
}
