//! Issue 21 against a running `exhibit serve`: markup planted in every field a page shows, opened in Chromium;
//! a crowd of clients that stop reading their downloads; forged and hostile transfer bundles; a model whose
//! buffer points at the server's own files.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::store_support::{Api, Backend, COURT_PASSWORD, Court, Server, sample_glb, upload};

/// Text every planted value starts with, so that a page can be searched for where it shows them.
const MARK: &str = "XSSMARK";

/// A value that becomes elements (with `data-xss`) or runs script if a page prints it raw. No `/`: file names
/// take it too.
fn planted(field: &str) -> String {
    format!(
        "{MARK} {field} <img src=x data-xss onerror=\"window.__xss=1\"><svg data-xss onload=\"window.__xss=1\">'\""
    )
}

/// [`planted`] with closing tags, for texts that may hold `/`.
fn planted_closing(field: &str) -> String {
    format!(
        "{} </title></script><script data-xss>window.__xss=1</script></textarea><b data-xss>",
        planted(field)
    )
}

/// A GLB whose manifest says markup in every text it carries (hashes stay hashes: the store refuses others).
fn hostile_manifest_glb(path: &Path) {
    let glb = std::fs::read(sample_glb()).unwrap();
    let chunks = codec::glb::parse_glb(&glb).unwrap();
    let mut root: Value = serde_json::from_slice(chunks.json).unwrap();
    let manifest = &mut root["asset"]["extras"]["exhibit"];
    manifest["software"] = json!(planted_closing("software"));
    manifest["inputs"][0]["name"] = json!(planted("input name"));
    manifest["inputs"][0]["format"] = json!(planted("format"));
    manifest["steps"][0]["name"] = json!(planted("step"));
    manifest["steps"][0]["software"] = json!(planted_closing("step software"));
    std::fs::write(
        path,
        codec::glb::write_glb(&root, chunks.bin.unwrap_or_default()),
    )
    .unwrap();
}

/// Run tests/js/xss_check.mjs; one JSON object per page.
fn check_in_chromium(extra: &[&str], urls: &[String]) -> Vec<Value> {
    let js = super::support::root().join("tests/js");
    let output = std::process::Command::new("node")
        .arg(js.join("xss_check.mjs"))
        .arg(MARK)
        .args(extra)
        .args(urls)
        .output()
        .expect("node runs (scripts/test installs Node.js)");
    assert!(
        output.status.success(),
        "xss_check.mjs: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Markup in every user-controlled field that a share page, the custody report or the case page shows:
/// none of it becomes an element or runs in Chromium, and each page shows it as text.
#[test]
fn regression_21_markup_in_every_field_stays_text_in_a_real_browser() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let admin = Api::new(&server.url, &server.admin_token());
    let user = |field: &str, role: &str| -> (i64, Api) {
        let made = admin.create(
            "/api/users",
            &json!({ "name": planted(field), "role": role, "password": COURT_PASSWORD }),
        );
        (
            made["id"].as_i64().unwrap(),
            admin.with_token(made["token"].as_str().unwrap()),
        )
    };
    let (_, technician) = user("technician", "technician");
    let (judge_id, judge) = user("judge", "judge");
    let (party_id, party) = user("party", "party");
    let case = admin.create(
        "/api/cases",
        &json!({
            "number": planted("number"), "court": planted_closing("court"), "title": planted_closing("title"),
            "parties": [{ "name": planted_closing("party name"), "side": "plaintiff" }]
        }),
    )["id"]
        .as_i64()
        .unwrap();
    for (user, role, side) in [
        (judge_id, "judge", None),
        (party_id, "party", Some("defendant")),
    ] {
        admin.create(
            &format!("/api/cases/{case}/members"),
            &json!({ "user": user, "role": role, "side": side }),
        );
    }
    let evidence = technician.create(
        &format!("/api/cases/{case}/evidence"),
        &json!({
            "label": planted("label"), "kind": "accused_product", "submitted_by": planted_closing("submitted by"),
            "description": planted_closing("description"),
            "capture": { format!("{MARK} key <i data-xss>"): planted_closing("capture value") }
        }),
    )["id"]
        .as_i64()
        .unwrap();
    let model = work
        .path()
        .join(planted("model file").replace('"', "") + ".glb");
    hostile_manifest_glb(&model);
    let state = work.path().join("state");
    let uploaded = upload(
        &technician,
        &model,
        case,
        evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    let raw = work
        .path()
        .join(planted("raw file").replace('"', "") + ".ply");
    std::fs::copy(super::support::data("ply/bun_zipper_res4.ply"), &raw).unwrap();
    upload(
        &technician,
        &raw,
        case,
        evidence,
        "scan",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    let objected = party.post(
        &format!("/api/versions/{}/confirmations", uploaded.sha256),
        &json!({ "decision": "object", "reason": planted_closing("reason") }),
    );
    assert_eq!(objected.status, 201, "{}", objected.text());
    let report = json!({
        "a": {"sha256": uploaded.sha256}, "b": {"sha256": uploaded.sha256},
        "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
        "mean_mm": 0.1, "rms_mm": 0.1, "p95_mm": 0.1, "max_mm": 0.2, "within_tolerance": 1.0, "tolerance_mm": 0.5,
        "alignment": {"method": planted_closing("method"), "rms_mm": 0.01, "start": planted_closing("start")},
        "statistics": {"histogram": [{"from_mm": -1.0, "to_mm": 1.0, "count": 10}]}
    });
    let comparison = party.create(
        &format!("/api/cases/{case}/comparisons"),
        &json!({ "report": report }),
    )["id"]
        .as_i64()
        .unwrap();
    let model_link = judge.create(
        "/api/shares",
        &json!({ "model": uploaded.sha256, "view": planted_closing("view") }),
    );
    let comparison_link = judge.create("/api/shares", &json!({ "comparison": comparison }));
    let links = [&model_link, &comparison_link].map(|l| l["url"].as_str().unwrap().to_owned());
    let mut pages = check_in_chromium(&[], &links);
    pages.extend(check_in_chromium(
        &["--token", &judge.token],
        &[format!("{}/api/cases/{case}/report", server.url)],
    ));
    pages.extend(check_in_chromium(
        &["--sign-in", &planted("judge"), COURT_PASSWORD],
        &[format!("{}/cases/{case}", server.url)],
    ));
    assert_eq!(pages.len(), 4);
    for page in &pages {
        assert_eq!(page["status"], 200, "{page}");
        assert_eq!(
            page["planted_elements"], 0,
            "markup became elements: {page}"
        );
        assert_eq!(page["ran"], false, "a planted script ran: {page}");
        assert_eq!(page["dialogs"], 0, "{page}");
    }
    // Each page shows the planted values, as text: the share pages and the report show many fields.
    let shown: Vec<u64> = pages.iter().map(|p| p["shown"].as_u64().unwrap()).collect();
    assert!(
        shown[0] >= 10,
        "model link page shows {} planted values",
        shown[0]
    );
    assert!(
        shown[1] >= 5,
        "comparison link page shows {} planted values",
        shown[1]
    );
    assert!(
        shown[2] >= 15,
        "the custody report shows {} planted values",
        shown[2]
    );
    assert!(
        shown[3] >= 1,
        "the case page shows {} planted values",
        shown[3]
    );
}

/// 530 clients that ask for a download and never read it: the store went on answering nothing else once 512
/// of them held its blocking threads. Now other downloads and file reads go on, and the stalled clients are
/// cut off after the idle timeout.
#[test]
fn regression_21_clients_that_stop_reading_hold_nothing() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::Embedded,
        &work.path().join("data"),
        &["--idle-timeout-s", "3"],
    );
    let court = Court::set_up(&server);
    let big = work.path().join("big.bin");
    let mut random = super::store_support::Seeded::new(21);
    std::fs::write(&big, random.bytes(16 << 20)).unwrap();
    let state = work.path().join("state");
    let big = upload(
        &court.technician,
        &big,
        court.case,
        court.evidence,
        "scan",
        4 << 20,
        &state,
        Duration::from_mins(1),
    )
    .unwrap();
    let small = upload(
        &court.technician,
        &sample_glb(),
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    let request = format!(
        "GET /api/blobs/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        big.sha256, court.judge.token
    );
    let mut stalled = Vec::new();
    for _ in 0..530 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stalled.push(stream);
    }
    // Let the server fill every socket buffer and wait on the clients.
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let download = court.judge.get(&format!("/api/blobs/{}", small.sha256));
    assert_eq!(download.status, 200);
    let expected = std::fs::read(sample_glb()).unwrap();
    assert!(
        download.body == expected,
        "another download got {} bytes of the {} while the stalled ones waited",
        download.body.len(),
        expected.len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "another download took {:?} behind the stalled ones",
        started.elapsed()
    );
    // The stalled clients were let go: reading one now ends (the server closed it) before all 16 MiB came.
    std::thread::sleep(Duration::from_secs(5));
    for stream in stalled.iter_mut().take(3) {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut received = Vec::new();
        let end = stream.read_to_end(&mut received);
        assert!(
            end.is_ok()
                || end
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "the server kept the stalled download open: {end:?}"
        );
        assert!(received.len() < 16 << 20, "{} bytes", received.len());
    }
    assert_eq!(Api::new(&server.url, "").get("/healthz").status, 200);
}

/// Rebuild a bundle with a changed header, sealed by `signer`.
fn reseal(bundle: &[u8], header: &Value, signer: &store::custody::Signer) -> Vec<u8> {
    use sha2::Digest as _;
    let verified_blobs = {
        let frame = store::bundle_frame::parse(bundle).unwrap();
        frame
            .blobs
            .iter()
            .map(|span| bundle[span.start..span.end].to_vec())
            .collect::<Vec<_>>()
    };
    let text = serde_json::to_vec(header).unwrap();
    let mut out = store::services::bundle::MAGIC.to_vec();
    out.extend_from_slice(format!("{}\n", text.len()).as_bytes());
    out.extend_from_slice(&text);
    for blob in verified_blobs {
        out.extend_from_slice(&blob);
    }
    let signature = signer.sign_bytes(&sha2::Sha256::digest(&out));
    out.extend_from_slice(store::services::bundle::SIG);
    out.extend_from_slice(
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature).as_bytes(),
    );
    out.push(b'\n');
    out
}

/// Forged appellate imports: a bundle sealed by a key the store was not told to trust; one (from a trusted
/// court) that lists a raw file it does not carry, to reach another case's blob; one whose records would not
/// pass the API's checks. Each is refused and names why; nothing is imported.
#[test]
fn regression_21_forged_and_hostile_bundles_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let trial = Server::start(&Backend::Embedded, &work.path().join("trial"), &[]);
    let court = Court::set_up(&trial);
    let state = work.path().join("state");
    upload(
        &court.technician,
        &sample_glb(),
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    let trial_key = court.admin.get("/api/log/checkpoint").json()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let bundle = court
        .judge
        .get(&format!("/api/cases/{}/bundle", court.case))
        .body;
    // The appellate store trusts the trial court; it also holds another case with a blob worth stealing.
    let appeal = Server::start(
        &Backend::Embedded,
        &work.path().join("appeal"),
        &["--trust-court", &trial_key],
    );
    let appeal_admin = Api::new(&appeal.url, &appeal.admin_token());
    let secret_case = appeal_admin.create(
        "/api/cases",
        &json!({ "number": "(2026)鲁民终99号", "court": "山东省高级人民法院", "title": "secret" }),
    )["id"]
        .as_i64()
        .unwrap();
    let secret_item = appeal_admin.create(
        &format!("/api/cases/{secret_case}/evidence"),
        &json!({ "label": "secret", "kind": "other", "submitted_by": "x" }),
    )["id"]
        .as_i64()
        .unwrap();
    let secret = work.path().join("secret.bin");
    std::fs::write(&secret, b"another case's raw scan").unwrap();
    let secret = upload(
        &appeal_admin,
        &secret,
        secret_case,
        secret_item,
        "scan",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    let import = |bytes: Vec<u8>| {
        appeal_admin.send(
            "POST",
            "/api/transfers",
            &[("content-type", "application/octet-stream")],
            bytes,
        )
    };
    let header = store::bundle_frame::parse(&bundle).unwrap().header;

    // A bundle re-sealed by someone else's key (with that key inside it, as a forger would) proves nothing.
    let forger =
        store::custody::Signer::load_or_create(&work.path().join("forger.key"), "exhibit-forger")
            .unwrap();
    let mut forged = header.clone();
    forged["public_key"] = json!(forger.public_key());
    let refused = import(reseal(&bundle, &forged, &forger));
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("not named as a trusted court key"),
        "{}",
        refused.text()
    );

    // From the trusted court's key (a court's key stolen, or a bug there): a raw file listed but not carried,
    // naming another case's blob, is refused, and the party never reaches that blob.
    let trial_signer = store::custody::Signer::load_or_create(
        &work.path().join("trial/signing.key"),
        header["origin"].as_str().unwrap(),
    )
    .unwrap();
    let mut stealing = header.clone();
    stealing["evidence"][0]["files"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({ "sha256": secret.sha256, "bytes": 23, "filename": "stolen.bin",
                       "uploaded_by": "x", "created_at": "2026-12-07T00:00:00Z" }),
        );
    let refused = import(reseal(&bundle, &stealing, &trial_signer));
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains(&format!(
            "blob {} is missing from the bundle",
            secret.sha256
        )),
        "{}",
        refused.text()
    );

    // Records that the API would refuse are refused from a bundle too.
    let mut hostile = header.clone();
    hostile["case"]["title"] = json!("a\u{7}b");
    let refused = import(reseal(&bundle, &hostile, &trial_signer));
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("control character"),
        "{}",
        refused.text()
    );
    let mut hostile = header.clone();
    hostile["evidence"][0]["versions"][0]["filename"] = json!("../../etc/passwd");
    let refused = import(reseal(&bundle, &hostile, &trial_signer));
    assert_eq!(refused.status, 422, "{}", refused.text());

    // Nothing of them was imported; the honest bundle is.
    let cases = appeal_admin.get("/api/cases").json();
    assert_eq!(cases["cases"].as_array().unwrap().len(), 1, "{cases}");
    assert_eq!(import(bundle).status, 201);
}

/// The preview renderer read a GLB's buffer URI relative to the server's folder (an existence and size oracle,
/// and 1 GiB read for a 484-byte upload). Now it reads only what is inside the GLB, and a model that failed is
/// not drawn again.
#[test]
fn regression_21_previews_never_read_the_servers_files() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::Embedded,
        &work.path().join("data"),
        &["--previews"],
    );
    let court = Court::set_up(&server);
    let glb = std::fs::read(sample_glb()).unwrap();
    let chunks = codec::glb::parse_glb(&glb).unwrap();
    let mut root: Value = serde_json::from_slice(chunks.json).unwrap();
    root["buffers"][0]["uri"] = json!("Cargo.toml");
    let outside = work.path().join("outside.glb");
    std::fs::write(&outside, codec::glb::write_glb(&root, &[])).unwrap();
    let uploaded = upload(
        &court.technician,
        &outside,
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &work.path().join("state"),
        Duration::from_secs(30),
    )
    .unwrap();
    let link = court
        .judge
        .create("/api/shares", &json!({ "model": uploaded.sha256 }));
    let render = format!("{}/render.png", link["url"].as_str().unwrap());
    let visitor = Api::new(&server.url, "");
    let first = visitor.get(&render);
    assert_eq!(first.status, 422, "{}", first.text());
    assert!(first.text().contains("external buffer"), "{}", first.text());
    let again = visitor.get(&render);
    assert_eq!(again.status, 422);
    assert_eq!(
        again.text(),
        first.text(),
        "the failure is remembered, not drawn again"
    );
}
