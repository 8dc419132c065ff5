//! `exhibit verify`: check a model file against its manifest, or a whole store's blobs (the scrub).

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "store"])))]
pub struct Args {
    /// A model (.glb): its geometry must still hash to what its manifest recorded.
    file: Option<PathBuf>,
    /// A store's data folder: hash every recorded blob again and name the damaged ones.
    #[arg(long)]
    store: Option<PathBuf>,
    /// With --store: the store's PostgreSQL URL, when it is not the folder's SQLite file.
    #[arg(long, requires = "store")]
    database: Option<String>,
    /// With --store: the store's S3 URL, when its blobs are not in the folder.
    #[arg(long, requires = "store")]
    blobs: Option<String>,
    /// With a transfer bundle: the sending store's public key (hex), to pin it.
    #[arg(long)]
    public_key: Option<String>,
    /// With --store: the custody log's signing key, when it is not DIR/signing.key.
    #[arg(long, requires = "store")]
    signing_key: Option<PathBuf>,
    /// With --store: a receipt (a JSON checkpoint, or an upload receipt holding one) the log must still
    /// extend; repeat for several. A shorter log than a receipt shows means the log was rolled back.
    #[arg(long, requires = "store")]
    receipt: Vec<PathBuf>,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let result = if let Some(data) = &args.store {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut receipts = Vec::new();
        for path in &args.receipt {
            let value: serde_json::Value = serde_json::from_slice(&fs_err::read(path)?)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            // An upload receipt carries its checkpoint inside; a bare checkpoint is one.
            let checkpoint = ["/result/checkpoint", "/checkpoint", ""]
                .iter()
                .find_map(|p| {
                    value
                        .pointer(p)
                        .filter(|v| v.get("root").is_some())
                        .cloned()
                })
                .with_context(|| format!("{}: no checkpoint in it", path.display()))?;
            receipts.push(
                serde_json::from_value(checkpoint)
                    .with_context(|| format!("{}: not a checkpoint", path.display()))?,
            );
        }
        let report = runtime.block_on(store::scrub::scrub_offline(
            data,
            args.database.as_deref(),
            args.blobs.as_deref(),
            args.signing_key.as_deref(),
            &receipts,
        ))?;
        serde_json::to_value(&report)?
    } else if let Some(file) = &args.file {
        let bytes = fs_err::read(file)?;
        if bytes.starts_with(store::transfer::MAGIC) {
            match store::transfer::verify(&bytes, args.public_key.as_deref()) {
                Ok(v) => {
                    json!({ "ok": true, "checked": v.checked, "problems": [], "checkpoint": v.header["checkpoint"], "case": v.header["case"]["number"] })
                }
                Err(problems) => json!({ "ok": false, "checked": 0, "problems": problems }),
            }
        } else {
            verify_file(file)?
        }
    } else {
        unreachable!("clap requires FILE or --store")
    };
    let ok = result["ok"] == json!(true);
    if args.json {
        output::print_json(&result)?;
    } else {
        let mut lines = vec![format!(
            "{}: {} checked, {}",
            args.store
                .as_ref()
                .or(args.file.as_ref())
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            result["checked"],
            if ok { "all intact" } else { "PROBLEMS FOUND" }
        )];
        for problem in result["problems"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  problem: {}",
                problem.as_str().unwrap_or_default()
            ));
        }
        for name in result["unreferenced"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  unreferenced (never served): {}",
                name.as_str().unwrap_or_default()
            ));
        }
        output::print_lines(&lines)?;
    }
    if ok {
        Ok(())
    } else {
        anyhow::bail!("verification failed: {}", result["problems"])
    }
}

fn verify_file(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let model =
        codec::read_model(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut problems = Vec::new();
    match (&model.manifest, model.bin_sha256_matches) {
        (None, _) => problems.push(format!("{}: carries no exhibit manifest", path.display())),
        (Some(_), Some(false)) => problems.push(format!(
            "{}: the geometry no longer hashes to the manifest's bin_sha256",
            path.display()
        )),
        _ => {}
    }
    let sidecar = crate::output::manifest_path(path);
    if sidecar.is_file() {
        let bytes = fs_err::read(path)?;
        let sha = codec::manifest::sha256_hex(&bytes);
        let recorded: serde_json::Value = serde_json::from_slice(&fs_err::read(&sidecar)?)
            .with_context(|| format!("{} is not JSON", sidecar.display()))?;
        if let Some(expected) = recorded.pointer("/output/sha256").and_then(|v| v.as_str())
            && expected != sha
        {
            problems.push(format!(
                "{}: the file hashes to {sha}, its manifest {} says {expected}",
                path.display(),
                sidecar.display()
            ));
        }
    }
    Ok(json!({ "ok": problems.is_empty(), "checked": 1, "problems": problems }))
}
