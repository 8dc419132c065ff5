//! `exhibit view`: open a model in the hearing-room window.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use viewer::desktop::{ViewOptions, run as run_window};
use viewer::i18n::Lang;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.glb or .gltf); a second one opens the comparison (A beside B).
    models: Vec<PathBuf>,
    /// Interface language: en or zh (中文).
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Window size in points, width x height.
    #[arg(long, default_value = "1280x800")]
    size: String,
    /// The court store holding this model: "Share" (Q) then asks it for a view-only link that opens at the
    /// current camera, and shows its QR code.
    #[arg(long)]
    store: Option<String>,
    /// Bearer token for --store (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How long a shared link works: 90m, 12h, 7d.
    #[arg(long, default_value = "7d")]
    expires: String,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let lang = match args.lang.as_str() {
        "en" => Lang::En,
        "zh" => Lang::Zh,
        other => bail!("--lang {other:?}: expected en or zh"),
    };
    let (width, height) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<f32>().ok()?, h.parse::<f32>().ok()?)))
        .filter(|&(w, h)| (200.0..=8192.0).contains(&w) && (200.0..=8192.0).contains(&h))
        .with_context(|| {
            format!(
                "--size {:?}: expected WIDTHxHEIGHT, each 200..8192",
                args.size
            )
        })?;
    let (path, compare_with) = match args.models.as_slice() {
        [one] => (one.clone(), None),
        [a, b] => (a.clone(), Some(b.clone())),
        [] => bail!("exhibit view: name a model file (or two, to compare them)"),
        [_, _, _, ..] => bail!("exhibit view: at most two models (A and B, side by side)"),
    };
    for path in std::iter::once(&path).chain(&compare_with) {
        let text = path.to_string_lossy();
        if text.starts_with("http://") || text.starts_with("https://") {
            bail!(
                "{text}: the window opens files; download the model first (GET /api/blobs/SHA256 from the store, or the share page's download) and open it"
            );
        }
        if !path.is_file() {
            bail!("cannot open {}: no such file", path.display());
        }
    }
    let share = match &args.store {
        None => None,
        Some(store) => {
            let token = args
                .token
                .clone()
                .context("--store needs --token (or EXHIBIT_TOKEN)")?;
            let expires_in_s = crate::commands::share::parse_duration(&args.expires)?;
            let sha256 = codec::manifest::sha256_hex(&fs_err::read(&path)?);
            Some(share_link(
                store.trim_end_matches('/').to_owned(),
                token,
                sha256,
                expires_in_s,
            ))
        }
    };
    run_window(ViewOptions {
        path,
        compare_with,
        lang,
        size: (width, height),
        share,
    })?;
    Ok(())
}

/// A link to the model (by its hash) that opens at a camera, and its QR code, from the store.
fn share_link(
    store: String,
    token: String,
    sha256: String,
    expires_in_s: i64,
) -> viewer::desktop::ShareLink {
    viewer::desktop::ShareLink(std::sync::Arc::new(move |camera: &str| {
        let client = crate::client::Store::new(&store, &token).map_err(|e| format!("{e:#}"))?;
        let body =
            serde_json::json!({ "model": sha256, "view": camera, "expires_in_s": expires_in_s });
        let answer: serde_json::Value = client
            .post("/api/shares", &body, "making a share link")
            .map_err(|e| format!("{e:#}"))?;
        let qr_png = client
            .get_bytes(
                answer["qr_png"].as_str().unwrap_or_default(),
                "fetching the QR code",
            )
            .map_err(|e| format!("{e:#}"))?;
        Ok(viewer::desktop::Shared {
            url: answer["url"].as_str().unwrap_or_default().to_owned(),
            qr_png,
        })
    }))
}
