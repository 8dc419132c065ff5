//! The court store against its real backends: SQLite + a folder, and PostgreSQL + Garage (S3) shared
//! by two `exhibit serve` instances. The same scenario runs on both.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::store_support::{Api, Backend, Court, Server, sample_glb, second_glb, upload};
use super::support::{exhibit, run_json, sha256_file};

pub(crate) fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let (meta, text) = grids[0].decode().unwrap();
    // Issue 18: a short link is a small symbol with large modules, readable across a courtroom.
    assert!(
        meta.version.0 <= 10,
        "QR version {} for {text}",
        meta.version.0
    );
    text
}

/// Upload, versions, download (whole, range, zstd) through `read_from`, share link with QR, page,
/// revocation; `write_to` and `read_from` are two instances when the backend is shared.
fn scenario(write_to: &Server, read_from: &Server, work: &Path) {
    let court = Court::set_up(write_to);
    let model = sample_glb();
    let sha = sha256_file(&model);
    // The technician uploads through the command line, as at the scanner.
    let receipt = run_json(
        exhibit(&[
            "upload",
            model.to_str().unwrap(),
            "--store",
            &write_to.url,
            "--case",
            &court.case.to_string(),
            "--evidence",
            &court.evidence.to_string(),
            "--chunk-mb",
            "1",
            "--json",
        ])
        .env("EXHIBIT_TOKEN", &court.technician.token)
        .env("TMPDIR", work),
    );
    assert_eq!(receipt["sha256"], json!(sha));
    assert_eq!(receipt["version"], json!(1));
    assert_eq!(receipt["case"], json!(court.case));
    assert_eq!(receipt["evidence"], json!(court.evidence));
    assert_eq!(
        receipt["bytes"],
        json!(std::fs::metadata(&model).unwrap().len())
    );

    // The same bytes again are the same version; different bytes are a new one, the old kept.
    let state = work.join("upload-state");
    let again = upload(
        &court.technician,
        &model,
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(again.version, Some(1));
    let second = upload(
        &court.technician,
        &second_glb(),
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(second.version, Some(2));
    // A raw scan is kept with the evidence, not as a version.
    let raw = super::support::data("ply/bun_zipper_res4.ply");
    let raw_receipt = upload(
        &court.technician,
        &raw,
        court.case,
        court.evidence,
        "scan",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(raw_receipt.version, None);

    // Another instance sees it all: same database, same blobs.
    let judge = court.judge.at(&read_from.url);
    let evidence = judge
        .get(&format!("/api/evidence/{}", court.evidence))
        .json();
    let versions = evidence["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{evidence}");
    assert_eq!(versions[0]["sha256"], json!(sha));
    assert_eq!(versions[1]["sha256"], json!(second.sha256));
    assert!(
        versions[0]["manifest_sha256"].is_string(),
        "the manifest was kept as its own blob"
    );
    assert_eq!(evidence["files"][0]["sha256"], json!(raw_receipt.sha256));
    let manifest = judge.get(&format!(
        "/api/blobs/{}",
        versions[0]["manifest_sha256"].as_str().unwrap()
    ));
    assert_eq!(manifest.status, 200);
    assert!(
        manifest.json()["software"]
            .as_str()
            .unwrap()
            .starts_with("exhibit")
    );

    let bytes = std::fs::read(&model).unwrap();
    let whole = judge.get(&format!("/api/blobs/{sha}"));
    assert_eq!(whole.status, 200);
    assert_eq!(
        whole.body, bytes,
        "the download is the upload, byte for byte"
    );
    assert_eq!(whole.header("etag"), Some(format!("\"{sha}\"").as_str()));
    let range = judge.send(
        "GET",
        &format!("/api/blobs/{sha}"),
        &[("range", "bytes=100-199")],
        Vec::new(),
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.body, bytes[100..200]);
    assert_eq!(
        range.header("content-range"),
        Some(format!("bytes 100-199/{}", bytes.len()).as_str())
    );
    let tail = judge.send(
        "GET",
        &format!("/api/blobs/{sha}"),
        &[("range", "bytes=-10")],
        Vec::new(),
    );
    assert_eq!(tail.body, bytes[bytes.len() - 10..]);
    let beyond = judge.send(
        "GET",
        &format!("/api/blobs/{sha}"),
        &[("range", "bytes=99999999-")],
        Vec::new(),
    );
    assert_eq!(beyond.status, 416);
    let zstd = judge.send(
        "GET",
        &format!("/api/blobs/{sha}"),
        &[("accept-encoding", "gzip, zstd")],
        Vec::new(),
    );
    assert_eq!(zstd.status, 200);
    assert_eq!(zstd.header("content-encoding"), Some("zstd"));
    assert_eq!(zstd_decode(&zstd.body), bytes, "zstd decodes to the model");

    // Parties read their case; an outsider gets exactly what a missing object gets.
    assert_eq!(
        court
            .plaintiff
            .at(&read_from.url)
            .get(&format!("/api/blobs/{sha}"))
            .status,
        200
    );
    assert_eq!(
        court
            .defendant
            .at(&read_from.url)
            .get(&format!("/api/blobs/{sha}"))
            .status,
        200
    );
    assert_eq!(
        court
            .outside_party
            .get(&format!("/api/cases/{}", court.case))
            .status,
        404
    );
    let listed = court.outside_party.get("/api/cases").json();
    assert_eq!(
        listed["cases"].as_array().unwrap().len(),
        1,
        "a party lists only their own case: {listed}"
    );
    let hidden = court
        .outside_judge
        .at(&read_from.url)
        .get(&format!("/api/blobs/{sha}"));
    let missing = court
        .outside_judge
        .at(&read_from.url)
        .get(&format!("/api/blobs/{}", "0".repeat(64)));
    assert_eq!(
        (hidden.status, hidden.body.clone()),
        (missing.status, missing.body.clone())
    );
    assert_eq!(hidden.status, 404);

    // A share link, made on one instance, opened and revoked through the other.
    let qr_path = work.join("share.png");
    let shared = run_json(
        exhibit(&[
            "share",
            &sha,
            "--store",
            &write_to.url,
            "--expires",
            "2h",
            "--view",
            "iso",
            "--qr",
            qr_path.to_str().unwrap(),
            "--json",
        ])
        .env("EXHIBIT_TOKEN", &court.judge.token),
    );
    let url = shared["url"].as_str().unwrap();
    // Issue 18: the link is the address and the token only (the view is stored with it), so its QR code is a
    // small symbol a phone reads across a room.
    assert!(!url.contains('#') && url.len() <= 80, "a short link: {url}");
    assert_eq!(
        decode_qr(&std::fs::read(&qr_path).unwrap()),
        url,
        "the QR code is the link"
    );
    let page_url = url
        .split('#')
        .next()
        .unwrap()
        .replace(&write_to.url, &read_from.url);
    let anonymous = Api::new(&read_from.url, "");
    let page = anonymous.get(&page_url);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains(&sha) && html.contains("(2022)鲁01民初123号"),
        "{html}"
    );
    assert!(
        html.contains("measured max position error"),
        "the page shows the manifest's error bound"
    );
    assert!(
        html.contains("data-key=\"view\">iso</td>"),
        "the page carries the view stored with the link"
    );
    let latest = anonymous.get("/api/log/checkpoint").json();
    let root = latest["checkpoint"]["root"].as_str().unwrap();
    assert!(
        html.contains(root),
        "the page carries the log's checkpoint, its own visit included"
    );
    let svg = anonymous.get(&format!("{page_url}/qr.svg"));
    assert!(svg.text().starts_with("<?xml") && svg.text().contains("<svg"));
    let via_link = anonymous.get(&format!("{page_url}/model.glb"));
    assert_eq!(via_link.body, bytes);
    // Revoke through the first instance: the next request through the second is refused.
    let id = shared["id"].as_i64().unwrap();
    assert_eq!(
        court
            .judge
            .send("DELETE", &format!("/api/shares/{id}"), &[], Vec::new())
            .status,
        204
    );
    let gone = anonymous.get(&page_url);
    assert_eq!(gone.status, 410);
    assert!(
        gone.text().contains("revoked") && gone.text().contains("撤销"),
        "{}",
        gone.text()
    );
    assert_eq!(anonymous.get(&format!("{page_url}/model.glb")).status, 410);
    // A party may not make links; every decision and link view is in the case's events.
    assert_eq!(
        court
            .plaintiff
            .post("/api/shares", &json!({ "model": sha }))
            .status,
        403
    );
    let events = court
        .judge
        .get(&format!("/api/cases/{}/events", court.case))
        .json();
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "upload",
        "download",
        "share_created",
        "share_viewed",
        "share_revoked",
    ] {
        assert!(
            actions.contains(&expected),
            "no {expected} event in {actions:?}"
        );
    }
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "share" && e["outcome"] == "denied"),
        "the party's refused attempt is logged"
    );
}

fn zstd_decode(bytes: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("zstd")
        .args(["-d", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("zstd (the Debian package) decodes the answer");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn store_embedded_upload_version_download_share() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    scenario(&server, &server, work.path());
    // The folder store's scrub agrees.
    let report = run_json(&mut exhibit(&[
        "verify",
        "--store",
        work.path().join("data").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(
        report["checked"],
        json!(5),
        "2 models, 2 manifests, 1 scan, and nothing else: {report}"
    );
}

#[test]
fn store_shared_postgres_garage_two_instances() {
    let work = tempfile::tempdir().unwrap();
    let backend = Backend::shared();
    let a = Server::start(&backend, &work.path().join("a"), &[]);
    let b = Server::start(&backend, &work.path().join("b"), &[]);
    scenario(&a, &b, work.path());
    let report = Api::new(&b.url, &a.admin_token()).post("/api/admin/scrub", &json!({}));
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(report.json()["ok"], json!(true), "{}", report.text());
    assert_eq!(report.json()["checked"], json!(5), "{}", report.text());
    drop((a, b));
    drop(backend);
}

include!("../roles_table.in");

#[test]
fn store_roles_table_over_http() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let court = Court::set_up(&server);
    // One model in each case, for the share action.
    let state = work.path().join("state");
    let own_model = upload(
        &court.technician,
        &sample_glb(),
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap()
    .sha256;
    let other_model = upload(
        &court.technician,
        &second_glb(),
        court.other_case,
        court.other_evidence,
        "model",
        1 << 20,
        &state,
        Duration::from_secs(30),
    )
    .unwrap()
    .sha256;
    let users_counter = std::cell::Cell::new(0);
    // Every combination, through real requests; each answer's status checked against the table.
    for (action, role, own, other) in EXPECTED {
        let api = match *role {
            "admin" => &court.admin,
            "technician" => &court.technician,
            "judge" => &court.judge,
            "party" => &court.plaintiff,
            "appellate" => &court.appellate,
            _ => unreachable!(),
        };
        for (scope, expected) in [("own", own), ("other", other)] {
            let (case, evidence, model) = if scope == "own" {
                (court.case, court.evidence, &own_model)
            } else {
                (court.other_case, court.other_evidence, &other_model)
            };
            let n = users_counter.get() + 1;
            users_counter.set(n);
            let answer = match *action {
                "read_case" => api.get(&format!("/api/cases/{case}")),
                "add_evidence" => api.post(
                    &format!("/api/cases/{case}/evidence"),
                    &json!({ "label": format!("item {n}"), "kind": "other", "submitted_by": "x" }),
                ),
                "upload" => api.send(
                    "POST",
                    "/api/uploads",
                    &[
                        ("tus-resumable", "1.0.0"),
                        ("upload-length", "10"),
                        (
                            "upload-metadata",
                            &format!(
                                "sha256 {},filename eC5nbGI=,case {},evidence {}",
                                b64(&"a".repeat(64)),
                                b64(&case.to_string()),
                                b64(&evidence.to_string())
                            ),
                        ),
                    ],
                    Vec::new(),
                ),
                "share" => api.post(
                    "/api/shares",
                    &json!({ "model": model, "expires_in_s": 60 }),
                ),
                "manage_members" => {
                    // A fresh judge each time, so that "allowed" can really succeed.
                    let judge = court.admin.create(
                        "/api/users",
                        &json!({ "name": format!("judge {n}"), "role": "judge" }),
                    );
                    api.post(
                        &format!("/api/cases/{case}/members"),
                        &json!({ "user": judge["id"], "role": "judge" }),
                    )
                }
                "create_case" => api.post(
                    "/api/cases",
                    &json!({ "number": format!("case {n}"), "court": "c", "title": "t" }),
                ),
                "manage_users" => api.post(
                    "/api/users",
                    &json!({ "name": format!("user {n}"), "role": "party" }),
                ),
                "scrub" => api.post("/api/admin/scrub", &json!({})),
                "transfer" => api.get(&format!("/api/cases/{case}/bundle")),
                "confirm" => api.post(
                    &format!("/api/versions/{model}/confirmations"),
                    &json!({ "decision": "confirm" }),
                ),
                "compare" => {
                    // The smallest well-formed report: the model against itself, unmoved.
                    let identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
                    api.post(
                        &format!("/api/cases/{case}/comparisons"),
                        &json!({ "report": {
                            "a": { "sha256": model }, "b": { "sha256": model },
                            "alignment": { "method": "none", "rms_mm": 0.0 },
                            "transform": identity, "mean_mm": 0.0, "rms_mm": 0.0, "p95_mm": 0.0,
                            "max_mm": 0.0, "tolerance_mm": 0.5, "within_tolerance": 1.0,
                        } }),
                    )
                }
                _ => unreachable!(),
            };
            let got = match answer.status {
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
                "{action} by {role} in the {scope} case: {} {}",
                answer.status,
                answer.text()
            );
            if got == "H" {
                assert_eq!(
                    answer.json(),
                    json!({ "error": "not found", "status": 404 }),
                    "hidden looks like missing"
                );
            }
        }
    }
    // Every decision was logged, allowed or denied.
    let decisions = court
        .admin
        .get(&format!("/api/cases/{}/events", court.other_case))
        .json();
    let denied = decisions["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"].as_str().unwrap().starts_with("denied"))
        .count();
    assert!(
        denied >= 10,
        "denied decisions in the other case are logged: {denied}"
    );
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// tus requests by hand: the protocol's refusals, each with a status and a reason.
#[test]
fn store_refuses_bad_input_with_reasons() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::Embedded,
        &work.path().join("data"),
        &["--max-upload-mb", "1", "--idle-timeout-s", "1"],
    );
    let court = Court::set_up(&server);
    let tech = &court.technician;
    let bytes = std::fs::read(sample_glb()).unwrap()[..200_000].to_vec();
    let sha = codec::manifest::sha256_hex(&bytes);
    let meta = |sha: &str, name: &str| {
        format!(
            "sha256 {},filename {},case {},evidence {}",
            b64(sha),
            b64(name),
            b64(&court.case.to_string()),
            b64(&court.evidence.to_string())
        )
    };
    let create = |length: &str, metadata: &str| {
        tech.send(
            "POST",
            "/api/uploads",
            &[
                ("tus-resumable", "1.0.0"),
                ("upload-length", length),
                ("upload-metadata", metadata),
            ],
            Vec::new(),
        )
    };
    let patch = |location: &str, offset: &str, body: &[u8], extra: &[(&str, &str)]| {
        let mut headers = vec![
            ("tus-resumable", "1.0.0"),
            ("upload-offset", offset),
            ("content-type", "application/offset+octet-stream"),
        ];
        headers.extend_from_slice(extra);
        tech.send("PATCH", location, &headers, body.to_vec())
    };
    // 413: over the limit.
    let too_big = create("2000000", &meta(&sha, "a.glb"));
    assert_eq!(too_big.status, 413, "{}", too_big.text());
    // 412: not tus 1.0.
    assert_eq!(
        tech.send(
            "POST",
            "/api/uploads",
            &[("upload-length", "10")],
            Vec::new()
        )
        .status,
        412
    );
    // 400 naming the problem: traversal, control characters, a bad hash, a missing field.
    for (metadata, word) in [
        (meta(&sha, "../../etc/passwd"), "filename"),
        (meta(&sha, "a\u{7}.glb"), "control character"),
        (meta("xyz", "a.glb"), "sha256"),
        (format!("sha256 {}", b64(&sha)), "filename"),
    ] {
        let answer = create("100", &metadata);
        assert_eq!(answer.status, 400, "{metadata}: {}", answer.text());
        assert!(answer.text().contains(word), "{}", answer.text());
    }
    let created = create(&bytes.len().to_string(), &meta(&sha, "model.glb"));
    assert_eq!(created.status, 201, "{}", created.text());
    let location = created.header("location").unwrap().to_owned();
    // 415: wrong content type.
    let wrong_type = tech.send(
        "PATCH",
        &location,
        &[
            ("tus-resumable", "1.0.0"),
            ("upload-offset", "0"),
            ("content-type", "text/plain"),
        ],
        b"x".to_vec(),
    );
    assert_eq!(wrong_type.status, 415);
    // 460: a piece whose checksum does not match; nothing kept.
    let bad_sum = patch(
        &location,
        "0",
        &bytes[..1000],
        &[(
            "upload-checksum",
            "sha256 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )],
    );
    assert_eq!(bad_sum.status, 460, "{}", bad_sum.text());
    let head = tech.send("HEAD", &location, &[("tus-resumable", "1.0.0")], Vec::new());
    assert_eq!(head.header("upload-offset"), Some("0"));
    // A good first piece, then 409 for a wrong offset.
    assert_eq!(patch(&location, "0", &bytes[..50_000], &[]).status, 204);
    let wrong_offset = patch(&location, "10", &bytes[10..20], &[]);
    assert_eq!(wrong_offset.status, 409, "{}", wrong_offset.text());
    assert!(wrong_offset.text().contains("50000"));
    // 413: a body running past Upload-Length; nothing of it kept.
    let mut long = bytes[50_000..].to_vec();
    long.extend_from_slice(b"extra");
    assert_eq!(patch(&location, "50000", &long, &[]).status, 413);
    // A slow client: part of a piece, then silence. After the idle timeout it is cut off with 408, and
    // what arrived is kept (no checksum was sent).
    {
        use std::io::{Read as _, Write as _};
        let port = server.url.rsplit(':').next().unwrap();
        let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        let path = location.trim_start_matches(&server.url);
        write!(
            stream,
            "PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 50000\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
            tech.token,
            bytes.len() - 50_000
        )
        .unwrap();
        stream.write_all(&bytes[50_000..60_000]).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let head = tech.send("HEAD", &location, &[("tus-resumable", "1.0.0")], Vec::new());
    assert_eq!(
        head.header("upload-offset"),
        Some("60000"),
        "the stalled piece's bytes were kept"
    );
    // A client that never finishes its headers is disconnected too.
    {
        use std::io::{Read as _, Write as _};
        let port = server.url.rsplit(':').next().unwrap();
        let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost:").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let started = std::time::Instant::now();
        let mut buffer = Vec::new();
        let _ = stream.read_to_end(&mut buffer);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "closed after the header timeout"
        );
    }
    // The rest; the declared hash matches, but 200 kB of a GLB is not a GLB: refused (422), no version,
    // and the upload says why afterwards.
    let done = patch(&location, "60000", &bytes[60_000..], &[]);
    assert_eq!(done.status, 422, "{}", done.text());
    assert!(done.text().contains("not a GLB"), "{}", done.text());
    let status = tech.get(&location).json();
    assert!(
        status["result"]["error"]
            .as_str()
            .unwrap()
            .contains("not a GLB"),
        "{status}"
    );
    // A declared hash that the bytes do not have: 460 at the last byte, and HEAD says 410 after.
    let other = b"these are not the bytes you declared".to_vec();
    let liar = create(&other.len().to_string(), &meta(&"b".repeat(64), "liar.glb"));
    let liar_location = liar.header("location").unwrap().to_owned();
    let refused = patch(&liar_location, "0", &other, &[]);
    assert_eq!(refused.status, 460, "{}", refused.text());
    assert!(
        refused.text().contains("not the declared"),
        "{}",
        refused.text()
    );
    assert_eq!(
        tech.send(
            "HEAD",
            &liar_location,
            &[("tus-resumable", "1.0.0")],
            Vec::new()
        )
        .status,
        410
    );
    let evidence = tech
        .get(&format!("/api/evidence/{}", court.evidence))
        .json();
    assert_eq!(
        evidence["versions"],
        json!([]),
        "nothing refused became evidence"
    );
    // JSON: 415 without the type, 400 naming the field.
    assert_eq!(
        court
            .admin
            .send(
                "POST",
                "/api/cases",
                &[("content-type", "text/plain")],
                b"{}".to_vec()
            )
            .status,
        415
    );
    let missing = court
        .admin
        .post("/api/cases", &json!({ "number": "x", "court": "y" }));
    assert_eq!(missing.status, 400);
    assert!(missing.text().contains("title"), "{}", missing.text());
    let wrong = court.admin.post(
        &format!("/api/cases/{}/evidence", court.case),
        &json!({ "label": "x", "kind": "weapon", "submitted_by": "y" }),
    );
    assert_eq!(wrong.status, 400);
    assert!(wrong.text().contains("`kind`"), "{}", wrong.text());
    let nested = court.admin.post("/api/cases", &json!({ "number": "x", "court": "y", "title": "t", "parties": [{ "name": "a", "side": 3 }] }));
    assert_eq!(nested.status, 400);
    assert!(
        nested.text().contains("parties[0].side"),
        "{}",
        nested.text()
    );
    let garbage = court.admin.send(
        "POST",
        "/api/cases",
        &[("content-type", "application/json")],
        b"{\"number\": ".to_vec(),
    );
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    // No token: 401; unknown routes: 404.
    assert_eq!(Api::new(&server.url, "").get("/api/cases").status, 401);
    assert_eq!(tech.get("/api/nothing/here").status, 404);
    assert_eq!(Api::new(&server.url, "").get("/healthz").status, 200);
    let spec = Api::new(&server.url, "").get("/api/openapi.json").json();
    assert!(spec["paths"]["/api/uploads/{id}"]["patch"].is_object());
}

/// Every route the router serves is in the OpenAPI document, and the other way round.
#[test]
fn store_openapi_lists_every_route() {
    let spec: serde_json::Value =
        serde_json::from_str(store::handlers::openapi::document_json()).unwrap();
    let documented: std::collections::BTreeSet<String> =
        spec["paths"].as_object().unwrap().keys().cloned().collect();
    let source = std::fs::read_to_string(super::support::root().join("store/src/lib.rs")).unwrap();
    let routed: std::collections::BTreeSet<String> = source
        .split(".route(")
        .skip(1)
        .filter_map(|s| {
            s.trim_start()
                .strip_prefix('"')
                .and_then(|s| s.split('"').next())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(documented, routed);
}

/// A standard client: npm tus-js-client uploads a model in 256 KiB pieces and the store records it.
#[test]
fn store_accepts_tus_js_client() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let court = Court::set_up(&server);
    let model = sample_glb();
    let sha = sha256_file(&model);
    let js = super::support::root().join("tests/js");
    let out = std::process::Command::new("node")
        .arg(js.join("tus_upload.mjs"))
        .arg(format!("{}/api/uploads", server.url))
        .arg(&court.technician.token)
        .arg(&model)
        .arg(&sha)
        .arg(court.case.to_string())
        .arg(court.evidence.to_string())
        .arg("model")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tus-js-client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = court
        .technician
        .get(printed["url"].as_str().unwrap())
        .json();
    assert_eq!(status["finished"], json!(true), "{status}");
    assert_eq!(status["result"]["version"], json!(1));
    assert_eq!(status["result"]["sha256"], json!(sha));
    let download = court.judge.get(&format!("/api/blobs/{sha}"));
    assert_eq!(download.body, std::fs::read(&model).unwrap());
}
