//! The store under abuse: kill -9 during uploads, a full disk, blobs damaged on disk.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::store_support::{Api, Backend, Court, Seeded, Server, sample_glb, upload};
use super::support::{exhibit, run};

/// Every version the store lists must be one of the files we sent, and must download intact.
fn check_visible_evidence(api: &Api, court: &Court, sent: &BTreeMap<String, Vec<u8>>) -> usize {
    let evidence = api.get(&format!("/api/evidence/{}", court.evidence)).json();
    let mut count = 0;
    for item in evidence["files"].as_array().unwrap() {
        let sha = item["sha256"].as_str().unwrap();
        let bytes = sent
            .get(sha)
            .unwrap_or_else(|| panic!("the store shows a file nobody finished sending: {sha}"));
        let download = api.get(&format!("/api/blobs/{sha}"));
        assert_eq!(download.status, 200);
        assert!(download.body == *bytes, "blob {sha} downloads intact");
        count += 1;
    }
    count
}

fn kill9_rounds(backend: &Backend, rounds: u64, seed: u64) {
    let work = tempfile::tempdir().unwrap();
    let mut server = Server::start(backend, &work.path().join("data"), &[]);
    let court = Court::set_up(&server);
    let mut rng = Seeded::new(seed);
    let mut sent: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut acknowledged = 0;
    let (mut resumed, mut retried) = (0, 0);
    for round in 0..rounds {
        // Three clients, each with a new file of 1–3 MB sent in 64 KiB pieces (many fsyncs to hit).
        let mut files = Vec::new();
        for client in 0..3 {
            let size = 1_000_000 + rng.below(2_000_000) as usize;
            let bytes = rng.bytes(size);
            let path = work.path().join(format!("round{round}-client{client}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            sent.insert(codec::manifest::sha256_hex(&bytes), bytes);
            files.push(path);
        }
        let handles: Vec<_> = files
            .into_iter()
            .map(|path| {
                let api = court.technician.clone();
                let (case, evidence) = (court.case, court.evidence);
                let state = work.path().join("state");
                std::thread::spawn(move || {
                    let result = upload(
                        &api,
                        &path,
                        case,
                        evidence,
                        "scan",
                        64 * 1024,
                        &state,
                        Duration::from_mins(1),
                    );
                    (path, result)
                })
            })
            .collect();
        // Kill at a seeded moment while the pieces are flowing, then start again on the same data.
        std::thread::sleep(Duration::from_millis(5 + rng.below(250)));
        server.kill9();
        std::thread::sleep(Duration::from_millis(rng.below(100)));
        server.restart();
        for handle in handles {
            let (path, result) = handle.join().unwrap();
            let receipt = result.unwrap_or_else(|e| {
                panic!(
                    "round {round} (seed {seed}): {} did not resume: {e}\n{}",
                    path.display(),
                    server.log()
                )
            });
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                receipt.sha256,
                codec::manifest::sha256_hex(&bytes),
                "the receipt names the file's hash"
            );
            acknowledged += 1;
            resumed += usize::from(receipt.resumed_from > 0);
            retried += usize::from(receipt.retries > 0);
        }
        let listed = check_visible_evidence(&court.admin.at(&server.url), &court, &sent);
        assert_eq!(
            listed, acknowledged,
            "round {round}: every acknowledged upload and nothing else is evidence"
        );
    }
    // The kills really landed during uploads: clients had to retry, and resumed part-way.
    eprintln!(
        "{rounds} rounds, {acknowledged} uploads: {retried} retried, {resumed} resumed part-way"
    );
    assert!(
        retried * 2 >= acknowledged,
        "{retried} of {acknowledged} uploads saw the server die"
    );
    assert!(
        resumed * 4 >= acknowledged,
        "{resumed} of {acknowledged} uploads resumed part-way"
    );
    // No half piece, no temp file left behind that the scrub would call damage.
    let report = court
        .admin
        .at(&server.url)
        .post("/api/admin/scrub", &json!({}));
    assert_eq!(report.json()["ok"], json!(true), "{}", report.text());
}

#[test]
fn store_kill9_during_uploads_embedded() {
    kill9_rounds(&Backend::Embedded, 20, 0x5eed_0001);
}

#[test]
fn store_kill9_during_uploads_postgres_garage() {
    kill9_rounds(&Backend::shared(), 8, 0x5eed_0002);
}

/// A small file system of our own (tmpfs), mounted for the test; unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(path.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn used_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.push(entry.strip_prefix(dir).unwrap().display().to_string());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn store_disk_full_refuses_cleanly_and_resumes() {
    let work = tempfile::tempdir().unwrap();
    let mount = work.path().join("small");
    let _tmpfs = Tmpfs::mount(&mount, "12m");
    let data = mount.join("data");
    let server = Server::start(&Backend::Embedded, &data, &[]);
    let court = Court::set_up(&server);
    let state = work.path().join("state");
    // Evidence that exists before the disk fills.
    let before = upload(
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
    // Fill the disk, leaving about 300 kB.
    let filler = mount.join("filler");
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0x55u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }
    let free_up = |bytes: u64| {
        let len = std::fs::metadata(&filler).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(len.saturating_sub(bytes))
            .unwrap();
    };
    // Completely full: reading old evidence still works, and is logged from the custody log's reserve.
    let old = court.judge.get(&format!("/api/blobs/{}", before.sha256));
    assert_eq!(old.status, 200, "{}", old.text());
    assert_eq!(old.body, std::fs::read(sample_glb()).unwrap());
    assert!(
        server.log().contains("reserve was released"),
        "{}",
        server.log()
    );
    free_up(300 * 1024);
    let mut rng = Seeded::new(7);
    let big = work.path().join("big-scan.bin");
    let big_bytes = rng.bytes(2_000_000);
    std::fs::write(&big, &big_bytes).unwrap();
    let refused = upload(
        &court.technician,
        &big,
        court.case,
        court.evidence,
        "scan",
        256 * 1024,
        &state,
        Duration::from_secs(2),
    );
    let message = refused
        .expect_err("a 2 MB upload does not fit in 300 kB")
        .to_string();
    assert!(
        message.contains("507") || message.contains("disk"),
        "{message}"
    );
    // No evidence row for it, no temporary files, and the old evidence is still served.
    let evidence = court
        .technician
        .get(&format!("/api/evidence/{}", court.evidence))
        .json();
    assert_eq!(evidence["files"], json!([]), "{evidence}");
    let files = used_files(&data);
    assert!(
        !files.iter().any(|f| f.contains(".tmp-")),
        "temporary files left: {files:?}"
    );
    let old = court.judge.get(&format!("/api/blobs/{}", before.sha256));
    assert_eq!(old.status, 200);
    assert_eq!(old.body, std::fs::read(sample_glb()).unwrap());
    // The part file holds only acknowledged bytes.
    let parts: Vec<_> = walk(&data.join("uploads"));
    for part in &parts {
        let len = std::fs::metadata(part).unwrap().len();
        assert_eq!(
            len % (256 * 1024),
            0,
            "only whole acknowledged pieces are kept: {len}"
        );
    }
    // Reading on a full disk was logged (from the reserve kept for the custody log), and uploads wait.
    let events = court
        .admin
        .get(&format!("/api/cases/{}/events", court.case))
        .json();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "download"
                && e["object"] == json!(format!("blob {}", before.sha256))),
        "the read on a full disk is in the custody log"
    );
    // Space comes back: the same command resumes and finishes.
    std::fs::remove_file(&filler).unwrap();
    let resumed = upload(
        &court.technician,
        &big,
        court.case,
        court.evidence,
        "scan",
        256 * 1024,
        &state,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(resumed.sha256, codec::manifest::sha256_hex(&big_bytes));
    let evidence = court
        .technician
        .get(&format!("/api/evidence/{}", court.evidence))
        .json();
    assert_eq!(evidence["files"][0]["sha256"], json!(resumed.sha256));
    let download = court.judge.get(&format!("/api/blobs/{}", resumed.sha256));
    assert_eq!(download.body, big_bytes);
    let log = court.admin.post("/api/admin/log-check", &json!({})).json();
    assert_eq!(
        log["ok"],
        json!(true),
        "the custody log survived the full disk whole: {log}"
    );
    drop(server);
}

#[test]
fn store_damaged_blobs_are_never_served_and_the_scrub_names_them() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let server = Server::start(&Backend::Embedded, &data, &[]);
    let court = Court::set_up(&server);
    let state = work.path().join("state");
    let mut rng = Seeded::new(99);
    let mut shas = Vec::new();
    for i in 0..4 {
        let path = work.path().join(format!("scan{i}.bin"));
        // Sizes on both sides of the 1 MiB read size.
        std::fs::write(
            &path,
            rng.bytes(if i == 0 {
                2_500_000
            } else {
                300_000 + i * 1000
            }),
        )
        .unwrap();
        shas.push(
            upload(
                &court.technician,
                &path,
                court.case,
                court.evidence,
                "scan",
                1 << 20,
                &state,
                Duration::from_secs(30),
            )
            .unwrap()
            .sha256,
        );
    }
    let blob = |sha: &str| data.join("blobs").join(&sha[..2]).join(sha);
    // A flipped bit, a truncation, a deletion; the fourth stays intact.
    let mut flipped = std::fs::read(blob(&shas[0])).unwrap();
    flipped[123_456] ^= 0x10;
    std::fs::write(blob(&shas[0]), flipped).unwrap();
    let truncated = std::fs::read(blob(&shas[1])).unwrap();
    std::fs::write(blob(&shas[1]), &truncated[..truncated.len() - 1000]).unwrap();
    std::fs::remove_file(blob(&shas[2])).unwrap();
    // Whole downloads: the connection is cut before a complete body arrives; ranges are refused.
    for sha in &shas[..3] {
        let url = format!("{}/api/blobs/{sha}", server.url);
        // Cut before the head (a blob of one chunk), during the body, or refused outright: any of these,
        // never a 200 with a complete body.
        match reqwest::blocking::Client::new()
            .get(&url)
            .bearer_auth(&court.judge.token)
            .send()
        {
            Err(_) => {}
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes();
                assert!(
                    status >= 500 || body.is_err(),
                    "{sha}: a damaged blob was served as valid ({status})"
                );
            }
        }
        let range = court.judge.send(
            "GET",
            &format!("/api/blobs/{sha}"),
            &[("range", "bytes=0-99")],
            Vec::new(),
        );
        assert_eq!(range.status, 500, "{sha}: {}", range.text());
    }
    assert_eq!(
        court.judge.get(&format!("/api/blobs/{}", shas[3])).status,
        200
    );
    // The scrub names exactly the three, online and offline.
    let report = court.admin.post("/api/admin/scrub", &json!({})).json();
    let offline = run(&mut exhibit(&[
        "verify",
        "--store",
        data.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(
        offline.status.code(),
        Some(1),
        "a damaged store fails verification"
    );
    let offline: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    for report in [report, offline] {
        assert_eq!(report["ok"], json!(false));
        let problems: Vec<String> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&shas[0]) && p.contains("content changed")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&shas[1]) && p.contains("truncated")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&shas[2]) && p.contains("missing")),
            "{problems:?}"
        );
        assert!(
            !problems.iter().any(|p| p.contains(&shas[3])),
            "{problems:?}"
        );
    }

    // With --cached-verification a download is not hashed each time, but a file that changed since it was
    // last checked is hashed again, and refused.
    drop(server);
    let cached = Server::start(&Backend::Embedded, &data, &["--cached-verification"]);
    let judge = court.judge.at(&cached.url);
    let sha = &shas[3];
    assert_eq!(judge.get(&format!("/api/blobs/{sha}")).status, 200);
    assert_eq!(
        judge.get(&format!("/api/blobs/{sha}")).status,
        200,
        "served again from the cached check"
    );
    std::thread::sleep(Duration::from_millis(20)); // a new modification time
    let mut bytes = std::fs::read(blob(sha)).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(blob(sha), bytes).unwrap();
    let after = judge.get(&format!("/api/blobs/{sha}"));
    assert_eq!(
        after.status,
        500,
        "a blob changed since its check is hashed again and refused: {}",
        after.text()
    );
}
