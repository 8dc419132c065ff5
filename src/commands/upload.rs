//! `exhibit upload`: send a model (or a raw scan) to the court store, resumably.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to upload: a GLB model, or a raw scan with --kind scan.
    file: PathBuf,
    /// The store's address, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    store: String,
    /// The case id.
    #[arg(long)]
    case: i64,
    /// The evidence item id (within the case).
    #[arg(long)]
    evidence: i64,
    /// `model` (a new version of the evidence's model) or `scan` (a raw scan file kept with it).
    #[arg(long, default_value = "model", value_parser = ["model", "scan"])]
    kind: String,
    /// Bearer token (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    token: String,
    /// MiB per request; smaller pieces lose less to a broken connection.
    #[arg(long, default_value_t = 8)]
    chunk_mb: u64,
    /// Keep retrying failures for this many seconds before giving up (a later run still resumes).
    #[arg(long, default_value_t = 300)]
    retry_for_s: u64,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let request = ingest::upload::UploadRequest {
        file: args.file.clone(),
        store: args.store.clone(),
        token: args.token.clone(),
        case: args.case,
        evidence: args.evidence,
        kind: args.kind.clone(),
        chunk_bytes: args.chunk_mb.max(1) << 20,
        retry_for: Duration::from_secs(args.retry_for_s),
        state_dir: None,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("uploading {}", args.file.display()));
    let started = std::time::Instant::now();
    let receipt = ingest::upload::upload(&request, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let receipt = receipt.map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        return output::print_json(&json!({
            "sha256": receipt.sha256,
            "bytes": receipt.bytes,
            "case": receipt.case,
            "evidence": receipt.evidence,
            "version": receipt.version,
            "kind": args.kind,
            "resumed_from": receipt.resumed_from,
            "retries": receipt.retries,
            "seconds": seconds,
            "result": receipt.result,
        }));
    }
    let what = receipt
        .version
        .map_or_else(|| "a raw scan".to_owned(), |v| format!("version {v}"));
    output::print_lines(&[
        format!(
            "stored {} as {what} of evidence {} in case {} ({} bytes, {seconds:.1} s{})",
            args.file.display(),
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
    ])
}
