//! `exhibit upload`: send a model (or a raw scan) to the court store, resumably; with `--with-inputs DIR`, the
//! raw scans and pose files the model's manifest lists go with it, each found in DIR by its SHA-256, so that
//! the appellate court can re-derive the model from the store alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::client::{Lookups as _, Store};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to upload: a GLB model, or a raw scan with --kind scan.
    file: PathBuf,
    #[command(flatten)]
    target: Target,
    /// `model` (a new version of the evidence's model) or `scan` (a raw scan file kept with it).
    #[arg(long, default_value = "model", value_parser = ["model", "scan"])]
    kind: String,
    /// Also upload every raw input the model's manifest lists, found in this folder (any names) by hash.
    #[arg(long, value_name = "DIR")]
    with_inputs: Option<PathBuf>,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

/// Where an upload goes, and how (shared with `ingest --upload`).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The store's address, e.g. `http://127.0.0.1:8080` (or the environment variable `EXHIBIT_STORE`).
    #[arg(long, env = "EXHIBIT_STORE")]
    pub store: Option<String>,
    /// The case: its id or its court number.
    #[arg(long)]
    pub case: Option<String>,
    /// The evidence item: its id or its label within the case.
    #[arg(long)]
    pub evidence: Option<String>,
    /// Bearer token (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// MiB per request; smaller pieces lose less to a broken connection.
    #[arg(long, default_value_t = 8)]
    pub chunk_mb: u64,
    /// Keep retrying failures for this many seconds before giving up (a later run still resumes).
    #[arg(long, default_value_t = 300)]
    pub retry_for_s: u64,
}

/// A target with everything named and resolved to the ids the upload protocol carries.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub store: Store,
    pub case: i64,
    pub evidence: i64,
    pub chunk_bytes: u64,
    pub retry_for: Duration,
}

impl Target {
    /// Check that store, case, evidence and token are all given, and look the case and evidence up.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let missing: Vec<&str> = [
            ("--store URL", self.store.is_none()),
            ("--case CASE", self.case.is_none()),
            ("--evidence E", self.evidence.is_none()),
            ("--token T (or EXHIBIT_TOKEN)", self.token.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            anyhow::bail!("an upload needs {}", missing.join(", "));
        }
        let (Some(store), Some(case), Some(evidence), Some(token)) =
            (&self.store, &self.case, &self.evidence, &self.token)
        else {
            unreachable!("checked just above")
        };
        let store = Store::new(store, token)?;
        let case = store.case_id(case)?;
        let evidence = store.evidence_id(case, evidence)?;
        Ok(Resolved {
            store,
            case,
            evidence,
            chunk_bytes: self.chunk_mb.max(1) << 20,
            retry_for: Duration::from_secs(self.retry_for_s),
        })
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let target = args.target.resolve()?;
    let receipt = send(&target, &args.file, &args.kind)?;
    let inputs = match &args.with_inputs {
        Some(dir) => send_inputs(&target, &args.file, std::slice::from_ref(dir))?,
        None => Vec::new(),
    };
    if args.json {
        let mut value = receipt_json(&receipt, &args.kind);
        value["inputs"] = inputs_json(&inputs);
        return output::print_json(&value);
    }
    let mut lines = receipt_lines(&args.file, &receipt);
    lines.extend(input_lines(&inputs));
    output::print_lines(&lines)
}

/// Upload one file, resumably, with a progress bar on a terminal.
pub fn send(
    target: &Resolved,
    file: &Path,
    kind: &str,
) -> anyhow::Result<ingest::upload::UploadReceipt> {
    let request = ingest::upload::UploadRequest {
        file: file.to_path_buf(),
        store: target.store.base().to_owned(),
        token: target.store.token().to_owned(),
        case: target.case,
        evidence: target.evidence,
        kind: kind.to_owned(),
        chunk_bytes: target.chunk_bytes,
        retry_for: target.retry_for,
        state_dir: None,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("uploading {}", file.display()));
    let receipt = ingest::upload::upload(&request, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    receipt.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// Upload every raw input `model`'s manifest lists, each found among the files of `dirs` by its SHA-256 (the
/// names in the manifest are only hints: scanners' files get renamed). An input in none of them is an error
/// naming it, before anything is sent.
pub fn send_inputs(
    target: &Resolved,
    model: &Path,
    dirs: &[PathBuf],
) -> anyhow::Result<Vec<(PathBuf, ingest::upload::UploadReceipt)>> {
    // The manifest is in the GLB's JSON: no geometry needs decoding to know the inputs.
    let bytes = fs_err::read(model)?;
    let manifest = codec::read_manifest_bytes(&bytes)
        .map_err(|e| e.with_path(model))
        .with_context(|| format!("reading {}", model.display()))?
        .with_context(|| {
            format!(
                "{} carries no manifest, so its inputs are unknown",
                model.display()
            )
        })?;
    let mut by_hash = std::collections::BTreeMap::new();
    let mut entries = Vec::new();
    // A texture or material file may lie in a folder beside its scan (its recorded name says which).
    let mut folders: Vec<PathBuf> = dirs.to_vec();
    for input in manifest.inputs.iter().filter(|i| i.used_by.is_some()) {
        if let Some(parent) = Path::new(&input.name)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            folders.extend(dirs.iter().map(|d| d.join(parent)).filter(|d| d.is_dir()));
        }
    }
    for dir in &folders {
        entries.extend(
            fs_err::read_dir(dir)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    entries.sort();
    entries.dedup();
    for path in entries {
        let size = fs_err::metadata(&path)?.len();
        // Only files of a listed size can be a listed input: most of a folder is never hashed.
        if manifest.inputs.iter().any(|i| i.bytes == size) {
            let (sha256, _) = ingest::upload::hash_file(&path)?;
            by_hash.entry(sha256).or_insert(path);
        }
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for input in &manifest.inputs {
        match by_hash.get(&input.sha256) {
            Some(path) => found.push(path.clone()),
            None => missing.push(format!("{} (sha256 {})", input.name, input.sha256)),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "{} hold(s) no file with these inputs' hashes of {}: {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            model.display(),
            missing.join(", ")
        );
    }
    found
        .into_iter()
        .map(|path| send(target, &path, "scan").map(|r| (path, r)))
        .collect()
}

/// The raw inputs sent, as `--json` lists them: each receipt with the file it was found as.
pub fn inputs_json(inputs: &[(PathBuf, ingest::upload::UploadReceipt)]) -> Value {
    inputs
        .iter()
        .map(|(path, receipt)| {
            let mut value = receipt_json(receipt, "scan");
            value["file"] = json!(path);
            value
        })
        .collect()
}

/// The raw inputs sent, a sentence each.
pub fn input_lines(inputs: &[(PathBuf, ingest::upload::UploadReceipt)]) -> Vec<String> {
    inputs
        .iter()
        .map(|(path, input)| {
            format!(
                "stored raw input {} ({} bytes, sha256 {})",
                path.display(),
                input.bytes,
                input.sha256
            )
        })
        .collect()
}

pub fn receipt_json(receipt: &ingest::upload::UploadReceipt, kind: &str) -> Value {
    json!({
        "sha256": receipt.sha256,
        "bytes": receipt.bytes,
        "case": receipt.case,
        "evidence": receipt.evidence,
        "version": receipt.version,
        "kind": kind,
        "resumed_from": receipt.resumed_from,
        "retries": receipt.retries,
        "result": receipt.result,
    })
}

pub fn receipt_lines(file: &Path, receipt: &ingest::upload::UploadReceipt) -> Vec<String> {
    let what = receipt
        .version
        .map_or_else(|| "a raw scan".to_owned(), |v| format!("version {v}"));
    vec![
        format!(
            "stored {} as {what} of evidence {} in case {} ({} bytes{})",
            file.display(),
            receipt.evidence,
            receipt.case,
            receipt.bytes,
            if receipt.resumed_from > 0 {
                format!(", resumed at byte {}", receipt.resumed_from)
            } else {
                String::new()
            }
        ),
        format!(
            "sha256 {} (the store's hash matches this file)",
            receipt.sha256
        ),
    ]
}
