//! `exhibit share`: a view-only, expiring link to one model version, with its QR code.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sha256", "comparison"])))]
pub struct Args {
    /// SHA-256 of the model version to share.
    sha256: Option<String>,
    /// A saved comparison (its id, from `exhibit compare --store`): the link shows both models, the
    /// figures and the heat map.
    #[arg(long, conflicts_with_all = ["sha256", "other"])]
    comparison: Option<i64>,
    /// The store's address.
    #[arg(long)]
    store: String,
    /// A second model of the same case: the link opens the comparison of the two.
    #[arg(long)]
    other: Option<String>,
    /// How long the link works: 90m, 12h, 7d.
    #[arg(long, default_value = "7d")]
    expires: String,
    /// The camera the viewer opens with (carried in the link).
    #[arg(long)]
    view: Option<String>,
    /// Save the link's QR code here (PNG, or SVG when the name ends in .svg).
    #[arg(long)]
    qr: Option<PathBuf>,
    /// Bearer token (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    token: String,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

/// `90m`, `12h`, `7d`, `3600s` or plain seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .with_context(|| format!("--expires {text:?}: expected a number and s, m, h or d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => anyhow::bail!("--expires {text:?}: unknown unit {other:?} (s, m, h, d)"),
    };
    Ok(n * scale)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let expires_in_s = parse_duration(&args.expires)?;
    let client = crate::client::Store::new(&args.store, &args.token)?;
    let base = client.base().to_owned();
    let body = json!({
        "model": args.sha256,
        "other": args.other,
        "comparison": args.comparison,
        "expires_in_s": expires_in_s,
        "view": args.view,
    });
    let answer: serde_json::Value = client.post("/api/shares", &body, "making the share link")?;
    let mut result = json!({
        "url": answer["url"],
        "expires_at": answer["expires_at"],
        "id": answer["id"],
        "model": answer["model"],
        "other": answer["other"],
        "comparison": answer["comparison"],
        "qr": null,
    });
    if let Some(path) = &args.qr {
        let svg = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        let qr_url = answer[if svg { "qr_svg" } else { "qr_png" }]
            .as_str()
            .unwrap_or_default();
        let bytes = client.get_bytes(qr_url, "fetching the QR code")?;
        output::write_atomically(path, &bytes)?;
        result["qr"] = json!(path);
    }
    if args.json {
        return output::print_json(&result);
    }
    let mut lines = vec![
        format!("{}", answer["url"].as_str().unwrap_or_default()),
        format!(
            "view-only, expires {}; revoke with DELETE {base}/api/shares/{}",
            answer["expires_at"].as_str().unwrap_or_default(),
            answer["id"]
        ),
    ];
    if let Some(path) = &args.qr {
        lines.push(format!("QR code saved to {}", path.display()));
    }
    output::print_lines(&lines)
}
