//! `exhibit transfer`: send a case to the court of appeal (移送), as a signed bundle file or straight
//! into the appellate store, which imports it only after checking every part of it.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["to", "bundle"])))]
pub struct Args {
    /// The case id in the sending store.
    case: i64,
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
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_hours(1))
        .build()?;
    let base = args.store.trim_end_matches('/');
    let response = client
        .get(format!("{base}/api/cases/{}/bundle", args.case))
        .bearer_auth(&args.token)
        .send()
        .with_context(|| format!("cannot reach the store at {base}"))?;
    let status = response.status();
    let bytes = response.bytes().context("reading the bundle")?;
    anyhow::ensure!(
        status.is_success(),
        "the store refused the transfer ({status}): {}",
        String::from_utf8_lossy(&bytes)
    );
    // Check before sending or keeping: a bundle that does not verify is never passed on. The sending store is
    // the one this command trusts: its key comes from its own log.
    let own_key = client
        .get(format!("{base}/api/log/checkpoint"))
        .send()
        .and_then(reqwest::blocking::Response::text)
        .with_context(|| format!("reading the key of {base}"))?;
    let own_key = serde_json::from_str::<serde_json::Value>(&own_key)
        .with_context(|| format!("{base}/api/log/checkpoint is not JSON"))?
        .get("public_key")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{base}/api/log/checkpoint names no public key"))?;
    let verified = store::services::bundle::verify(&bytes, Some(&own_key)).map_err(|problems| {
        anyhow::anyhow!(
            "the bundle from {base} does not verify: {}",
            problems.join("; ")
        )
    })?;
    let sha = codec::manifest::sha256_hex(&bytes);
    let mut result = json!({
        "case": args.case,
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
        let to = to.trim_end_matches('/');
        let token = args
            .to_token
            .as_deref()
            .context("--to needs --to-token (or EXHIBIT_TO_TOKEN) for the appellate store")?;
        let response = client
            .post(format!("{to}/api/transfers"))
            .bearer_auth(token)
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .with_context(|| format!("cannot reach the appellate store at {to}"))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        anyhow::ensure!(
            status.is_success(),
            "the appellate store refused the case ({status}): {text}"
        );
        result["imported"] = serde_json::from_str(&text).unwrap_or(json!(text));
    }
    if args.json {
        return output::print_json(&result);
    }
    let mut lines = vec![format!(
        "case {} bundled: {} bytes, sha256 {sha}, {} items checked",
        args.case,
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
