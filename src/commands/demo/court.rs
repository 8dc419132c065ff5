//! The court half of the demo: an embedded store (SQLite and a blob folder under the demo's folder), a case
//! opened by its court number with a technician, a judge and two parties, the model and every raw scan it was
//! made from uploaded, both parties' confirmations, a share link with its QR code, the custody log checked, and
//! the model re-derived from nothing but the store.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::Store;
use crate::output;

/// The demo case, as a clerk would open it.
const CASE_NUMBER: &str = "(2026)鲁01知民初1号";
const COURT: &str = "山东省济南市中级人民法院 Jinan Intermediate People's Court";
const TITLE: &str =
    "外观设计专利侵权纠纷（兔形摆件） Design patent infringement: a rabbit figurine";
pub(super) const JUDGE: &str = "审判员 Wang Fang (judge)";
pub(super) const PLAINTIFF: &str = "原告 Lapin Design Co.";
pub(super) const DEFENDANT: &str = "被告 Hare Crafts Ltd.";
const EVIDENCE_LABEL: &str = "原告外观设计产品 Plaintiff's design (bunny)";
/// A file in the store folder that marks it as the demo's own, so a second run may start it afresh.
const MARKER: &str = ".exhibit-demo-store";

/// Who the demo made, with their tokens (printed once, as `exhibit user add` does).
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub admin: String,
    pub technician: String,
    pub judge: String,
    pub plaintiff: String,
    pub defendant: String,
}

/// What the court half made and checked.
#[derive(Debug, Serialize)]
pub struct CourtResult {
    pub store_url: String,
    pub store_data: PathBuf,
    pub case: i64,
    pub case_number: String,
    pub case_page: String,
    pub evidence: i64,
    pub model_sha256: String,
    pub version: Option<i64>,
    pub inputs_uploaded: Vec<String>,
    pub confirmations_verified: usize,
    pub share_url: String,
    pub expires_at: String,
    pub qr_png: PathBuf,
    pub qr_version: i16,
    pub custody_events_checked: u64,
    pub rederived: bool,
    pub tokens: Tokens,
    /// The case page's sign-in for the judge and the parties: one password, made for this run.
    pub case_page_password: String,
    #[serde(skip)]
    pub qr_lines: Vec<String>,
}

/// A store running on its own thread for as long as the demo wants it.
pub struct RunningStore {
    pub url: String,
    pub data: PathBuf,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl RunningStore {
    /// Serve until the process is stopped (Ctrl-C); an error only if the server itself fails.
    pub fn serve_forever(self) -> anyhow::Result<()> {
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => bail!("the store's thread failed"),
        }
    }
}

/// Start an embedded store with its data in `data` (made afresh when it is the demo's own), listening on
/// `bind`.
pub fn start_store(data: &Path, bind: &str) -> anyhow::Result<RunningStore> {
    if data.exists() {
        ensure!(
            data.join(MARKER).is_file(),
            "{} exists and is not a store this demo made; choose another --out",
            data.display()
        );
        fs_err::remove_dir_all(data)?;
    }
    fs_err::create_dir_all(data)?;
    fs_err::write(
        data.join(MARKER),
        b"made by exhibit demo; a new run replaces this folder\n",
    )?;
    let mut config = store::Config::new(data.to_path_buf());
    bind.clone_into(&mut config.bind);
    crate::commands::serve::add_browser_parts(&mut config, None, true, "exhibit demo");
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("store".into())
        .spawn(move || {
            let runtime = crate::commands::serve::runtime()?;
            let failed_tx = started_tx.clone();
            let result = runtime.block_on(store::serve(config, move |started| {
                let _ = started_tx.send(Ok(started.url.clone()));
            }));
            if let Err(e) = &result {
                let _ = failed_tx.send(Err(format!("{e:#}")));
            }
            result
        })
        .context("cannot start the store's thread")?;
    let url = started_rx
        .recv()
        .context("the store stopped before it listened")?
        .map_err(|e| anyhow::anyhow!("the store did not start: {e}"))?;
    Ok(RunningStore {
        url,
        data: data.to_path_buf(),
        thread,
    })
}

/// Everything the court does with the model, through the store's HTTP API as any client would.
pub fn run_case(
    running: &RunningStore,
    model: &Path,
    scans: &Path,
    out: &Path,
) -> anyhow::Result<CourtResult> {
    let admin_token = fs_err::read_to_string(running.data.join("admin.token"))
        .context("the store wrote no admin token")?
        .trim()
        .to_owned();
    let admin = Store::new(&running.url, &admin_token)?;
    let technician =
        crate::commands::user::add(&admin, "技术员 Li Ming (technician)", "technician", None)?;
    // The people of the case sign in to the case page with a password made for this run (never a fixed one: a
    // demo store may be kept running with --serve).
    let password = store::random::random_hex(8);
    let judge = crate::commands::user::add(&admin, JUDGE, "judge", Some(&password))?;
    let plaintiff = crate::commands::user::add(&admin, PLAINTIFF, "party", Some(&password))?;
    let defendant = crate::commands::user::add(&admin, DEFENDANT, "party", Some(&password))?;
    let token = |u: &crate::client::UserCreated| u.token.clone();

    // The clerk opens the case by its court number and adds its people.
    let case = crate::commands::case::open(
        &admin,
        CASE_NUMBER,
        COURT,
        TITLE,
        &[
            (PLAINTIFF.to_owned(), "plaintiff".to_owned()),
            (DEFENDANT.to_owned(), "defendant".to_owned()),
        ],
    )?;
    crate::commands::case::add_member(&admin, CASE_NUMBER, &judge.name, "judge", None)?;
    crate::commands::case::add_member(
        &admin,
        CASE_NUMBER,
        &plaintiff.name,
        "party",
        Some("plaintiff"),
    )?;
    crate::commands::case::add_member(
        &admin,
        CASE_NUMBER,
        &defendant.name,
        "party",
        Some("defendant"),
    )?;

    // The technician registers the object and uploads the model with every raw scan and the pose file.
    let tech = Store::new(&running.url, &token(&technician))?;
    let evidence = crate::commands::evidence::add(
        &tech,
        CASE_NUMBER,
        EVIDENCE_LABEL,
        "patented_design",
        None,
        "Eight range scans of the Stanford bunny placed by their pose file, surface reconstructed.",
    )?;
    let target = crate::commands::upload::Target {
        store: Some(running.url.clone()),
        case: Some(CASE_NUMBER.to_owned()),
        evidence: Some(EVIDENCE_LABEL.to_owned()),
        token: Some(token(&technician)),
        chunk_mb: 8,
        retry_for_s: 30,
    }
    .resolve()?;
    ensure!(
        Some(target.evidence) == evidence["id"].as_i64(),
        "the evidence label found another item than the one just added"
    );
    let receipt = crate::commands::upload::send(&target, model, "model")?;
    let inputs = crate::commands::upload::send_inputs(&target, model, &[scans.to_path_buf()])?;

    // Both parties confirm the exact version; each statement is signed and checked.
    for party in [&plaintiff, &defendant] {
        let client = Store::new(&running.url, &token(party))?;
        let _: Value = client.post(
            &format!("/api/versions/{}/confirmations", receipt.sha256),
            &json!({ "decision": "confirm" }),
            &format!("{} confirming the model", party.name),
        )?;
    }
    let item: Value = admin.get(
        &format!("/api/evidence/{}", target.evidence),
        "reading the evidence back",
    )?;
    let confirmations: Vec<Value> = item["versions"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|v| v["sha256"].as_str() == Some(&receipt.sha256))
        })
        .and_then(|v| v["confirmations"].as_array().cloned())
        .unwrap_or_default();
    let verified = confirmations
        .iter()
        .filter(|c| c["decision"] == "confirm" && c["signature_verifies"] == true)
        .count();
    ensure!(
        verified == 2,
        "expected both parties' confirmations to verify, found {verified} of {}",
        confirmations.len()
    );

    // The judge makes a view-only link for the hearing; its QR code as a PNG and on the terminal.
    let judge_client = Store::new(&running.url, &token(&judge))?;
    let share: Value = judge_client.post(
        "/api/shares",
        &json!({ "model": receipt.sha256, "expires_in_s": 7 * 24 * 3600, "view": "iso" }),
        "making a share link",
    )?;
    let share_url = share["url"].as_str().unwrap_or_default().to_owned();
    let qr_png = out.join("share-qr.png");
    let png = judge_client.get_bytes(
        share["qr_png"].as_str().unwrap_or_default(),
        "fetching the link's QR code",
    )?;
    output::write_atomically(&qr_png, &png)?;
    let (qr_lines, qr_version) = crate::qr::terminal_lines(&share_url)?;

    // The custody log: every action above is in it, and it must check from its first event.
    let log: Value = admin.post(
        "/api/admin/log-check",
        &json!({ "receipts": [] }),
        "checking the custody log",
    )?;
    ensure!(
        log["ok"] == true,
        "the custody log does not check: {}",
        log["problems"]
    );

    // Anyone with the judge's token can make the model again from the scans the store keeps.
    let rederived = rederive(&running.url, &receipt.sha256, &token(&judge))?;

    Ok(CourtResult {
        store_url: running.url.clone(),
        store_data: running.data.clone(),
        case: case.id,
        case_number: case.number,
        case_page: format!("{}/cases/{}", running.url, case.id),
        evidence: target.evidence,
        model_sha256: receipt.sha256,
        version: receipt.version,
        inputs_uploaded: inputs
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect(),
        confirmations_verified: verified,
        share_url,
        expires_at: share["expires_at"].as_str().unwrap_or_default().to_owned(),
        qr_png,
        qr_version,
        custody_events_checked: log["checked"].as_u64().unwrap_or(0),
        rederived,
        case_page_password: password,
        tokens: Tokens {
            admin: admin_token,
            technician: token(&technician),
            judge: token(&judge),
            plaintiff: token(&plaintiff),
            defendant: token(&defendant),
        },
        qr_lines,
    })
}

/// `exhibit verify --model-sha256 SHA --rederive-from URL`, run as the appellate court would run it.
fn rederive(url: &str, sha256: &str, token: &str) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("cannot find this program to run verify")?;
    let result = std::process::Command::new(exe)
        .args([
            "verify",
            "--model-sha256",
            sha256,
            "--rederive-from",
            url,
            "--token",
            token,
            "--json",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run exhibit verify")?;
    let answer: Value = serde_json::from_slice(&result.stdout).unwrap_or(Value::Null);
    ensure!(
        result.status.success() && answer["ok"] == true,
        "re-deriving the model from the store failed: {}",
        answer["problems"]
    );
    Ok(true)
}
