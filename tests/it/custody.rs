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
    store::merkle::verify_inclusion(
        &store::merkle::leaf_hash(&leaf_bytes),
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
