//! `exhibit transfer`: send a case to the court of appeal (移送), as a signed bundle file or straight
//! into the appellate store, which imports it only after checking every part of it.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::client::{Lookups as _, Store};
use crate::output;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["to", "bundle"])))]
pub struct Args {
    /// The case in the sending store: its id or its court number.
    case: String,
    /// The sending store's address.
    #[arg(long)]
    store: String,
    /// The appellate store's address: import the case there.
    #[arg(long)]
    to: Option<String>,
    /// Write the signed bundle to this file instead (check it with `exhibit verify FILE`).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Bearer token for the sending store (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    token: String,
    /// Bearer token for the appellate store (or the environment variable `EXHIBIT_TO_TOKEN`).
    #[arg(long, env = "EXHIBIT_TO_TOKEN", hide_env_values = true)]
    to_token: Option<String>,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let sending = Store::new(&args.store, &args.token)?;
    let base = sending.base().to_owned();
    let case = sending.case_id(&args.case)?;
    let bytes = sending.get_file(&format!("/api/cases/{case}/bundle"), "the transfer")?;
    // Check before sending or keeping: a bundle that does not verify is never passed on. The sending store is
    // the one this command trusts: its key comes from its own log.
    let log: serde_json::Value = sending.get("/api/log/checkpoint", "the sending store's key")?;
    let own_key = log
        .get("public_key")
        .and_then(serde_json::Value::as_str)
        .with_context(|| format!("{base}/api/log/checkpoint names no public key"))?;
    let verified = store::services::bundle::verify(&bytes, Some(own_key)).map_err(|problems| {
        anyhow::anyhow!(
            "the bundle from {base} does not verify: {}",
            problems.join("; ")
        )
    })?;
    let sha = codec::manifest::sha256_hex(&bytes);
    let mut result = json!({
        "case": case,
        "bytes": bytes.len(),
        "sha256": sha,
        "checked": verified.checked,
        "checkpoint": verified.header.checkpoint,
    });
    if let Some(path) = &args.bundle {
        output::write_atomically(path, &bytes)?;
        result["bundle"] = json!(path);
    }
    if let Some(to) = &args.to {
        let token = args
            .to_token
            .as_deref()
            .context("--to needs --to-token (or EXHIBIT_TO_TOKEN) for the appellate store")?;
        let appellate = Store::new(to, token)?;
        let imported: serde_json::Value = appellate.post_file(
            "/api/transfers",
            bytes.clone(),
            "the appellate store's import",
        )?;
        result["imported"] = imported;
    }
    if args.json {
        return output::print_json(&result);
    }
    let mut lines = vec![format!(
        "case {case} bundled: {} bytes, sha256 {sha}, {} items checked",
        bytes.len(),
        verified.checked
    )];
    if let Some(path) = &args.bundle {
        lines.push(format!("written to {}", path.display()));
    }
    if let Some(imported) = result.get("imported") {
        lines.push(format!(
            "imported by {} as case {}",
            args.to.as_deref().unwrap_or(""),
            imported["case"]
        ));
    }
    output::print_lines(&lines)
}
