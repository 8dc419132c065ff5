//! The custody log against tampering: edits, deletions, reordering, forged rows and a cut tail made
//! directly in the database are found, and the first bad event is named.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::store_support::{Backend, Court, Server, sample_glb, second_glb, upload};
use super::support::{exhibit, run, run_json};

/// Run Python's sqlite3 on a store's database (the tests' stand-in for someone with write access to it).
fn sql(db: &Path, statements: &str) {
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .arg(statements)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{statements}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify_store(data: &Path, receipts: &[&Path]) -> (bool, Value) {
    let mut command = exhibit(&["verify", "--store", data.to_str().unwrap(), "--json"]);
    for r in receipts {
        command.arg("--receipt").arg(r);
    }
    let out = run(&mut command);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "verify printed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn custody_log_proofs_receipts_and_tampering() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut server = Server::start(&Backend::Embedded, &data, &[]);
    let court = Court::set_up(&server);
    let state = work.path().join("state");
    // Some history: an upload, reads, a refused attempt, a second upload whose receipt we keep.
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
    court
        .judge
        .get(&format!("/api/evidence/{}", court.evidence));
    court
        .plaintiff
        .post("/api/shares", &json!({ "model": "0".repeat(64) }));
    let receipt = run_json(
        exhibit(&[
            "upload",
            second_glb().to_str().unwrap(),
            "--store",
            &server.url,
            "--case",
            &court.case.to_string(),
            "--evidence",
            &court.evidence.to_string(),
            "--json",
        ])
        .env("EXHIBIT_TOKEN", &court.technician.token)
        .env("TMPDIR", work.path()),
    );
    let checkpoint = receipt["result"]["checkpoint"].clone();
    assert!(checkpoint["size"].as_u64().unwrap() > 10, "{receipt}");
    let receipt_path = work.path().join("receipt.json");
    std::fs::write(&receipt_path, receipt.to_string()).unwrap();
    court.judge.get(&format!("/api/cases/{}", court.case)); // one more event after the receipt

    // The receipt's checkpoint verifies against the store's key; the log extends it (consistency
    // proof), and the upload event is in it (inclusion proof).
    let anonymous = super::store_support::Api::new(&server.url, "");
    let latest = anonymous.get("/api/log/checkpoint").json();
    let key = latest["public_key"].as_str().unwrap().to_owned();
    let origin = latest["origin"].as_str().unwrap().to_owned();
    let old: store::custody::Checkpoint = serde_json::from_value(checkpoint.clone()).unwrap();
    let new: store::custody::Checkpoint =
        serde_json::from_value(latest["checkpoint"].clone()).unwrap();
    old.verify(&origin, &key).unwrap();
    assert!(new.size > old.size);
    let consistency = anonymous
        .get(&format!(
            "/api/log/consistency?from={}&to={}",
            old.size, new.size
        ))
        .json();
    let proof = store::custody::proof_from_json(&consistency["proof"]).unwrap();
    old.check_extended_by(&new, &proof).unwrap();
    let seq = old.size - 1; // the upload's own event is the last one its checkpoint covers
    let entry = court
        .technician
        .get(&format!("/api/log/entries/{seq}"))
        .json();
    assert_eq!(entry["event"]["action"], json!("upload"), "{entry}");
    let leaf_bytes = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(entry["leaf"].as_str().unwrap())
            .unwrap()
    };
    let inclusion = anonymous
        .get(&format!("/api/log/inclusion?seq={seq}&size={}", new.size))
        .json();
    let path = store::custody::proof_from_json(&inclusion["proof"]).unwrap();
    let root = new.verify(&origin, &key).unwrap();
    store::custody::merkle::verify_inclusion(
        &store::custody::merkle::leaf_hash(&leaf_bytes),
        seq,
        new.size,
        &path,
        &root,
    )
    .unwrap();
    // An outsider may not read another case's entries.
    assert_eq!(
        court
            .outside_judge
            .get(&format!("/api/log/entries/{seq}"))
            .status,
        404
    );

    // Online check, and offline with the receipt.
    let online = court
        .admin
        .post("/api/admin/log-check", &json!({ "receipts": [checkpoint] }))
        .json();
    assert_eq!(online["ok"], json!(true), "{online}");
    server.kill9();
    let (ok, report) = verify_store(&data, &[&receipt_path]);
    assert!(ok, "{report}");
    let size = report["log"]["checked"].as_u64().unwrap();
    assert!(size > old.size);

    // Tampering, each on its own copy of the store; the first bad event is named.
    let cases: [(&str, String, String); 5] = [
        ("edit an event", "UPDATE events SET actor = 'someone else' WHERE seq = 5".into(), "event 5 ".into()),
        ("delete one in the middle", "DELETE FROM events WHERE seq = 7".into(), "event 8 ".into()),
        (
            "reorder two",
            "UPDATE events SET seq = -1 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = 4; UPDATE events SET seq = 4 WHERE seq = -1".into(),
            "event 3 ".into(),
        ),
        (
            "insert a forged one",
            format!(
                "INSERT INTO events (seq, at_ms, actor, role, action, case_id, object, outcome, source, detail, leaf_hash, root_after, signature) \
                 SELECT {size}, at_ms, actor, role, 'download', case_id, object, outcome, source, detail, leaf_hash, root_after, signature FROM events WHERE seq = {last}",
                last = size - 1
            ),
            format!("event {size} "),
        ),
        ("truncate the tail", format!("DELETE FROM events WHERE seq >= {}", old.size - 3), "rolled back".into()),
    ];
    for (what, statements, named) in cases {
        let copy = work.path().join(what.replace(' ', "-"));
        copy_dir(&data, &copy);
        sql(&copy.join("exhibit.db"), &statements);
        let (ok, report) = verify_store(&copy, &[&receipt_path]);
        assert!(!ok, "{what}: not detected: {report}");
        let problems = report["problems"].to_string();
        assert!(
            problems.contains(&named),
            "{what}: expected {named:?} in {problems}"
        );
    }
    // Without the receipt, a cut tail is a shorter valid log: only a receipt shows the rollback.
    let copy = work.path().join("truncate-the-tail");
    let (ok, _) = verify_store(&copy, &[]);
    assert!(
        ok,
        "a truncated log alone still verifies; the receipt is what catches it"
    );
}

#[test]
fn parties_confirm_or_object_to_one_exact_version() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let court = Court::set_up(&server);
    let state = work.path().join("state");
    let v1 = upload(
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
    let path = format!("/api/versions/{}/confirmations", v1.sha256);
    // The plaintiff confirms with the key the store holds for them.
    let confirmed = court
        .plaintiff
        .post(&path, &json!({ "decision": "confirm" }));
    assert_eq!(confirmed.status, 201, "{}", confirmed.text());
    let confirmed = confirmed.json();
    let statement = confirmed["statement"].as_str().unwrap();
    assert!(
        statement.contains(&v1.sha256) && statement.contains("decision confirm"),
        "{statement}"
    );
    let manifest = v1.result["manifest_sha256"].as_str().unwrap();
    assert!(
        statement.contains(&format!("manifest {manifest}")),
        "the manifest's hash is signed: {statement}"
    );
    store::handlers::confirm::verify_signature(
        statement,
        confirmed["public_key"].as_str().unwrap(),
        confirmed["signature"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(confirmed["key_held_by"], json!("store"));
    assert!(
        confirmed["checkpoint"]["size"].as_u64().unwrap() > 0,
        "the receipt carries the log's checkpoint"
    );
    // An objection needs a reason.
    assert_eq!(
        court
            .defendant
            .post(&path, &json!({ "decision": "object" }))
            .status,
        400
    );
    let objected = court.defendant.post(&path, &json!({ "decision": "object", "reason": "灯罩的弧度与实物不符 (the shade's curve differs from the object)" }));
    assert_eq!(objected.status, 201, "{}", objected.text());
    // A party may bring their own key: they sign the statement over a checkpoint of the log.
    let own_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let public_key = codec::manifest::hex(own_key.verifying_key().as_bytes());
    let latest = court.plaintiff.get("/api/log/checkpoint").json();
    let checkpoint: store::custody::Checkpoint =
        serde_json::from_value(latest["checkpoint"].clone()).unwrap();
    let text = store::handlers::confirm::statement(
        "(2022)鲁01民初123号",
        court.evidence,
        1,
        &v1.sha256,
        manifest,
        "confirm",
        "checked at the hearing",
        &checkpoint,
    );
    let signature = {
        use base64::Engine as _;
        use ed25519_dalek::Signer as _;
        base64::engine::general_purpose::STANDARD.encode(own_key.sign(text.as_bytes()).to_bytes())
    };
    let own = court.plaintiff.post(&path, &json!({ "decision": "confirm", "reason": "checked at the hearing", "signature": signature, "public_key": public_key, "checkpoint": checkpoint }));
    assert_eq!(own.status, 201, "{}", own.text());
    assert_eq!(own.json()["key_held_by"], json!("party"));
    // A signature over anything else, or a checkpoint the log never had, is refused.
    let wrong = court.plaintiff.post(&path, &json!({ "decision": "object", "reason": "x", "signature": signature, "public_key": public_key, "checkpoint": checkpoint }));
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    let mut forged = checkpoint.clone();
    forged.root = "ab".repeat(32);
    let forged = court.plaintiff.post(&path, &json!({ "decision": "confirm", "reason": "checked at the hearing", "signature": signature, "public_key": public_key, "checkpoint": forged }));
    assert_eq!(forged.status, 400, "{}", forged.text());
    // Judges do not confirm; outsiders cannot see the version.
    assert_eq!(
        court
            .judge
            .post(&path, &json!({ "decision": "confirm" }))
            .status,
        403
    );
    assert_eq!(
        court
            .outside_party
            .post(&path, &json!({ "decision": "confirm" }))
            .status,
        404
    );
    // A new version starts with none; the old one keeps its three, each verifying.
    upload(
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
    let evidence = court
        .judge
        .get(&format!("/api/evidence/{}", court.evidence))
        .json();
    let first = evidence["versions"][0]["confirmations"].as_array().unwrap();
    assert_eq!(first.len(), 3, "{evidence}");
    assert!(first.iter().all(|c| c["signature_verifies"] == json!(true)));
    assert_eq!(first[1]["decision"], json!("object"));
    assert_eq!(first[1]["side"], json!("defendant"));
    assert_eq!(
        evidence["versions"][1]["confirmations"],
        json!([]),
        "a new version needs new confirmations"
    );
    // The share page shows them, objection and reason included.
    let link = court
        .judge
        .post("/api/shares", &json!({ "model": v1.sha256 }))
        .json();
    let page = super::store_support::Api::new(&server.url, "")
        .get(link["url"].as_str().unwrap())
        .text();
    assert!(
        page.contains("异议 objects") && page.contains("灯罩的弧度"),
        "{page}"
    );
    assert!(page.contains("签名有效 signature verifies"));
    // The custody report: both versions' hashes, the manifest's inputs and steps, the objection and its
    // reason, the signatures checked, the timeline, and the log's checkpoint as it stood.
    let report = court
        .judge
        .get(&format!("/api/cases/{}/report", court.case));
    assert_eq!(report.status, 200);
    let html = report.text();
    let v2_sha = evidence["versions"][1]["sha256"].as_str().unwrap();
    for needle in [
        v1.sha256.as_str(),
        v2_sha,
        manifest,
        "灯罩的弧度",
        "异议 Objection",
        "签名有效 signature verifies",
        "custody_report",
        "upload",
        "<svg",
    ] {
        assert!(html.contains(needle), "the report lacks {needle:?}");
    }
    let log_size: u64 = html
        .split("data-key=\"log-size\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let latest = court.judge.get("/api/log/checkpoint").json();
    assert_eq!(
        log_size,
        latest["checkpoint"]["size"].as_u64().unwrap(),
        "the report names the log as it stands"
    );
    assert!(html.matches("data-key=\"event\"").count() >= 10);
    assert_eq!(
        court
            .outside_judge
            .get(&format!("/api/cases/{}/report", court.case))
            .status,
        404
    );
    std::fs::write(work.path().join("report.html"), &html).unwrap();
    // Confirmations and objections are custody events.
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
    assert!(
        actions.contains(&"confirmation") && actions.contains(&"objection"),
        "{actions:?}"
    );
}

/// The whole path: upload → both parties confirm → the judge views → a share link is issued, viewed and
/// revoked → the case is bundled → `exhibit verify` checks the bundle offline → the appellate store imports
/// it (checking it first) and the appellate court opens the model; any changed byte makes the bundle fail.
#[test]
fn appellate_transfer_end_to_end() {
    let work = tempfile::tempdir().unwrap();
    let trial = Server::start(&Backend::Embedded, &work.path().join("trial"), &[]);
    let court = Court::set_up(&trial);
    // The appellate store imports only from court keys it was told to trust.
    let trial_key = court.admin.get("/api/log/checkpoint").json()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let appeal = Server::start(
        &Backend::Embedded,
        &work.path().join("appeal"),
        &["--trust-court", &trial_key],
    );
    let state = work.path().join("state");
    let model = upload(
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
    let raw = super::support::data("ply/bun_zipper_res4.ply");
    upload(
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
    let path = format!("/api/versions/{}/confirmations", model.sha256);
    assert_eq!(
        court
            .plaintiff
            .post(&path, &json!({ "decision": "confirm" }))
            .status,
        201
    );
    assert_eq!(
        court
            .defendant
            .post(&path, &json!({ "decision": "confirm" }))
            .status,
        201
    );
    assert_eq!(
        court
            .judge
            .get(&format!("/api/blobs/{}", model.sha256))
            .status,
        200
    );
    let link = court
        .judge
        .post("/api/shares", &json!({ "model": model.sha256 }))
        .json();
    let anonymous = super::store_support::Api::new(&trial.url, "");
    assert_eq!(anonymous.get(link["url"].as_str().unwrap()).status, 200);
    assert_eq!(
        court
            .judge
            .send(
                "DELETE",
                &format!("/api/shares/{}", link["id"]),
                &[],
                Vec::new()
            )
            .status,
        204
    );
    assert_eq!(anonymous.get(link["url"].as_str().unwrap()).status, 410);

    // The judge bundles the case; the bundle verifies offline.
    let bundle = work.path().join("case.exhibit-transfer");
    let exported = run_json(
        exhibit(&[
            "transfer",
            &court.case.to_string(),
            "--store",
            &trial.url,
            "--bundle",
            bundle.to_str().unwrap(),
            "--json",
        ])
        .env("EXHIBIT_TOKEN", &court.judge.token),
    );
    let bytes = std::fs::read(&bundle).unwrap();
    assert_eq!(
        exported["sha256"],
        json!(codec::manifest::sha256_hex(&bytes))
    );
    let offline = run_json(&mut exhibit(&[
        "verify",
        bundle.to_str().unwrap(),
        "--public-key",
        &trial_key,
        "--json",
    ]));
    assert_eq!(offline["ok"], json!(true), "{offline}");
    assert_eq!(offline["signed_by"], json!(trial_key));
    // Issue 21: without a key the reader trusts, the bundle's own key proves nothing: not ok, and it says so.
    let unanchored = run(&mut exhibit(&[
        "verify",
        bundle.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(unanchored.status.code(), Some(1));
    let unanchored: serde_json::Value = serde_json::from_slice(&unanchored.stdout).unwrap();
    assert!(
        unanchored["problems"][0]
            .as_str()
            .unwrap()
            .contains("not named as a trusted court key"),
        "{unanchored}"
    );
    assert!(
        offline["checked"].as_u64().unwrap() > 15,
        "blobs, events and confirmations were checked: {offline}"
    );
    // Pinned to another key, it is refused.
    let pinned = run(&mut exhibit(&[
        "verify",
        bundle.to_str().unwrap(),
        "--public-key",
        &"ab".repeat(32),
        "--json",
    ]));
    assert_eq!(pinned.status.code(), Some(1));
    // One changed byte anywhere fails, and says what failed. Positions spread over the header, the
    // blobs and the seal (every byte would take minutes; these cover each part).
    let header_end = bytes.iter().position(|b| *b == b'{').unwrap() + 200;
    let mut positions: Vec<usize> = (0..40).map(|i| i * bytes.len() / 40).collect();
    positions.extend([
        0,
        5,
        19,
        header_end,
        bytes.len() - 1,
        bytes.len() - 3,
        bytes.len() - 30,
    ]);
    for at in positions {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        let Err(problems) = store::services::bundle::verify(&changed, Some(&trial_key)) else {
            panic!("a changed byte at {at} of {} was not detected", bytes.len());
        };
        assert!(
            !problems.is_empty() && !problems[0].is_empty(),
            "byte {at}: no reason given"
        );
    }
    // Straight into the appellate store: it checks, imports, and the appellate court opens the model.
    let appeal_admin = super::store_support::Api::new(&appeal.url, &appeal.admin_token());
    let appellate = appeal_admin.create(
        "/api/users",
        &json!({ "name": "省高院 judge", "role": "appellate" }),
    );
    let appellate = appeal_admin.with_token(appellate["token"].as_str().unwrap());
    let party = appeal_admin.create("/api/users", &json!({ "name": "a party", "role": "party" }));
    let party = appeal_admin.with_token(party["token"].as_str().unwrap());
    assert_eq!(
        party
            .send(
                "POST",
                "/api/transfers",
                &[("content-type", "application/octet-stream")],
                bytes.clone()
            )
            .status,
        403
    );
    let mut tampered = bytes.clone();
    let middle = bytes.len() / 2;
    tampered[middle] ^= 0x40;
    let refused = appellate.send(
        "POST",
        "/api/transfers",
        &[("content-type", "application/octet-stream")],
        tampered,
    );
    assert_eq!(refused.status, 422, "{}", refused.text());
    let imported = run_json(
        exhibit(&[
            "transfer",
            &court.case.to_string(),
            "--store",
            &trial.url,
            "--to",
            &appeal.url,
            "--json",
        ])
        .env("EXHIBIT_TOKEN", &court.judge.token)
        .env("EXHIBIT_TO_TOKEN", &appellate.token),
    );
    let new_case = imported["imported"]["case"].as_i64().unwrap();
    let evidence = appellate
        .get(&format!("/api/cases/{new_case}/evidence"))
        .json();
    let item = &evidence["evidence"][0];
    assert_eq!(
        item["versions"][0]["sha256"],
        json!(model.sha256),
        "{evidence}"
    );
    let download = appellate.get(&format!("/api/blobs/{}", model.sha256));
    assert_eq!(
        download.body,
        std::fs::read(sample_glb()).unwrap(),
        "the appellate court opens the same bytes"
    );
    // The import is in the appellate store's own log, naming the trial court's checkpoint; both logs check.
    let events = appellate
        .get(&format!("/api/cases/{new_case}/events"))
        .json();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "transfer_imported"),
        "{events}"
    );
    for admin in [&court.admin, &appeal_admin] {
        let log = admin.post("/api/admin/log-check", &json!({})).json();
        assert_eq!(log["ok"], json!(true), "{log}");
    }
    // Sending it twice is refused: the case is there already.
    let again = run(exhibit(&[
        "transfer",
        &court.case.to_string(),
        "--store",
        &trial.url,
        "--to",
        &appeal.url,
        "--json",
    ])
    .env("EXHIBIT_TOKEN", &court.judge.token)
    .env("EXHIBIT_TO_TOKEN", &appellate.token));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"));
}

/// The appellate court makes the model again from the raw scan the trial store keeps: `exhibit verify MODEL
/// --rederive-from URL` fetches every recorded input by its hash and re-derives byte for byte; with
/// `--model-sha256` the model itself comes from the store as well. A reader of
/// another case gets the store's refusal, named per input, and nothing is re-derived; an input the store never received is named too.
#[test]
fn the_appellate_court_rederives_a_model_from_the_scan_in_the_store() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let court = Court::set_up(&server);
    let raw = super::support::data("ply/bun_zipper_res4.ply");
    let glb = work.path().join("res4.glb");
    run_json(&mut exhibit(&[
        "ingest",
        raw.to_str().unwrap(),
        "-o",
        glb.to_str().unwrap(),
        "--precision-mm",
        "0.05",
        "--lod",
        "2",
        "--json",
    ]));
    let state = work.path().join("state");
    let mut uploaded = Vec::new();
    for (file, kind) in [(&glb, "model"), (&raw, "scan")] {
        uploaded.push(
            upload(
                &court.technician,
                file,
                court.case,
                court.evidence,
                kind,
                1 << 20,
                &state,
                Duration::from_secs(30),
            )
            .unwrap(),
        );
    }
    let model_sha = uploaded[0].sha256.clone();
    // `exhibit verify WHAT... --rederive-from URL --json` with a token: (exit status, report).
    let verify_with = |what: &[&str], token: &str| {
        let mut args = vec!["verify"];
        args.extend_from_slice(what);
        args.extend(["--rederive-from", server.url.as_str(), "--json"]);
        let output = run(exhibit(&args).env("EXHIBIT_TOKEN", token));
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        (output.status.success(), report)
    };
    let verify = |model: &Path, token: &str| verify_with(&[model.to_str().unwrap()], token);
    let (ok, report) = verify(&glb, &court.appellate.token);
    assert!(ok, "{report}");
    assert_eq!(report["rederive"]["identical"], true, "{report}");
    assert_eq!(report["rederive"]["inputs"], 1);

    // Nothing at hand but the version's hash: the model comes from the store too.
    let by_hash = |token: &str| verify_with(&["--model-sha256", &model_sha], token);
    let (ok, report) = by_hash(&court.appellate.token);
    assert!(ok, "{report}");
    assert_eq!(report["rederive"]["identical"], true, "{report}");
    assert_eq!(report["rederive"]["model_sha256"], json!(model_sha));
    let (ok, report) = by_hash(&court.outside_party.token);
    assert!(!ok);
    let problems = report["problems"].to_string();
    assert!(
        problems.contains(&format!("model version {model_sha}"))
            && problems.contains("answered 404"),
        "{problems}"
    );

    // Someone who may not read this case is refused the scan (as not found: the store does not say what other
    // cases hold), and the refusal is named.
    let (ok, report) = verify(&glb, &court.outside_party.token);
    assert!(!ok);
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("bun_zipper_res4.ply") && problems.contains("answered 404"),
        "{problems}"
    );
    assert!(report.get("rederive").is_none(), "{report}");

    // A model whose scan was never uploaded: the missing input is named with the store's answer.
    let other = work.path().join("frag.glb");
    run_json(&mut exhibit(&[
        "ingest",
        super::support::data("ply/frag_115.ply").to_str().unwrap(),
        "-o",
        other.to_str().unwrap(),
        "--json",
    ]));
    let (ok, report) = verify(&other, &court.appellate.token);
    assert!(!ok);
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("frag_115.ply") && problems.contains("404"),
        "{problems}"
    );
    assert!(report.get("rederive").is_none(), "{report}");
}
