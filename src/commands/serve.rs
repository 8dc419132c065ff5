//! `exhibit serve`: the court store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the database (SQLite), the blobs, the admin token and scratch space.
    #[arg(long, default_value = "exhibit-data")]
    data: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// `postgres://user@host:port/db` to share the metadata between instances (default: SQLite in DATA).
    #[arg(long)]
    database: Option<String>,
    /// `s3://bucket?endpoint=http://host:port&region=R` (keys from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`) to share the blobs between instances (default: DATA/blobs).
    #[arg(long)]
    blobs: Option<String>,
    /// The address people reach this store at, for share links (default: `http://BIND`).
    #[arg(long)]
    public_url: Option<String>,
    /// Largest upload accepted, in MiB.
    #[arg(long, default_value_t = 4096)]
    max_upload_mb: u64,
    /// Seconds a request body may stall before the client counts as gone.
    #[arg(long, default_value_t = 30)]
    idle_timeout_s: u64,
    /// The custody log's Ed25519 key (made on first start; instances sharing a database share it).
    #[arg(long, default_value = None)]
    signing_key: Option<PathBuf>,
    /// The custody log's name in its signed checkpoints (default: the public URL).
    #[arg(long)]
    origin: Option<String>,
    /// MiB of disk kept in reserve for the custody log, so that reads can still be logged on a full disk.
    #[arg(long, default_value_t = 64)]
    reserve_mb: u64,
    /// Hash a whole download only when its file changed or was last checked over 5 minutes ago
    /// (default: hash every download as it streams). Faster; silent bit rot is then caught later.
    #[arg(long)]
    cached_verification: bool,
    /// The web viewer built by `scripts/build-web` (default: `web/dist` of this source tree, when it has been
    /// built). Share pages then draw the model live in the browser.
    #[arg(long, env = "EXHIBIT_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// The public key (hex) of a court whose transfer bundles this store imports; repeat for several. The
    /// sending store shows its key at /api/log/checkpoint. Bundles sealed by any other key are refused.
    #[arg(long = "trust-court", value_name = "KEY")]
    trust_court: Vec<String>,
    /// Do not draw previews for share pages (no graphics driver needed).
    #[arg(long)]
    no_previews: bool,
    /// Print one JSON line on stdout once listening (the URL and the admin token file).
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let mut config = store::Config::new(args.data.clone());
    config.bind.clone_from(&args.bind);
    config.database.clone_from(&args.database);
    config.blobs.clone_from(&args.blobs);
    config.public_url.clone_from(&args.public_url);
    config.signing_key.clone_from(&args.signing_key);
    config.origin.clone_from(&args.origin);
    config.reserve_bytes = args.reserve_mb << 20;
    config.hash_every_download = !args.cached_verification;
    config.max_upload_bytes = args.max_upload_mb.saturating_mul(1 << 20);
    config.idle_timeout = Duration::from_secs(args.idle_timeout_s.max(1));
    for key in &args.trust_court {
        anyhow::ensure!(
            key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "--trust-court {key:?}: expected a public key of 64 hex digits (see the court's /api/log/checkpoint)"
        );
        config.trusted_courts.push(key.to_ascii_lowercase());
    }
    add_browser_parts(
        &mut config,
        args.web_dir.as_deref(),
        !args.no_previews,
        "exhibit serve",
    );
    let json = args.json;
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXHIBIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    runtime()?.block_on(store::serve(config, |started| {
        if json {
            let _ = output::print_json(&serde_json::json!({
                "url": started.url,
                "admin_token_file": started.admin_token_file,
            }));
        }
        eprintln!("exhibit serve: listening on {}", started.url);
        if let Some(file) = &started.admin_token_file {
            eprintln!(
                "exhibit serve: first start: the admin token is in {} (readable by you only).\n  \
                 Use it with: export EXHIBIT_TOKEN=$(cat {})",
                file.display(),
                file.display()
            );
        }
    }))
}

/// What a store needs for browsers: the web viewer (`web_dir`, else `web/dist` of this source tree; `who` warns
/// when it is incomplete, and share pages then show the rendered picture alone) and, with `previews`, the
/// headless renderer that draws that picture. `exhibit serve` and the demo's embedded store both use it.
pub fn add_browser_parts(
    config: &mut store::Config,
    web_dir: Option<&std::path::Path>,
    previews: bool,
    who: &str,
) {
    config.web_dir = match web_viewer(web_dir) {
        Ok(dir) => Some(dir),
        Err(why) => {
            eprintln!(
                "{who}: warning: no web viewer: {why}. Share pages show the rendered picture only (and say so in \
                 both languages) until it is built: scripts/build-web (scripts/demo does it), then restart."
            );
            None
        }
    };
    if previews {
        config.previewer = Some(Arc::new(preview));
    }
}

/// The async runtime a store runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The folder of the web viewer: `given`, or `web/dist` of this source tree; an error says what is missing.
fn web_viewer(given: Option<&std::path::Path>) -> Result<PathBuf, String> {
    let dir = given.map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist")),
        std::path::Path::to_path_buf,
    );
    store::pages::check_web_dir(&dir).map(|()| dir)
}

/// The share page's picture: the iso view, 800×600, reconstructed surface tinted, with a scale bar.
/// One graphics device serves every preview (making one costs more than drawing).
pub fn preview(glb: &[u8]) -> anyhow::Result<Vec<u8>> {
    static GPU: std::sync::OnceLock<Result<viewer::gpu::Gpu, String>> = std::sync::OnceLock::new();
    let gpu = GPU
        .get_or_init(|| viewer::gpu::Gpu::headless().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("no graphics device for previews: {e}"))?;
    // Only what is inside the GLB: a buffer URI in an upload must never read the server's own files.
    let scene = viewer::headless::load_contained_glb(glb, 0)?;
    let request = viewer::headless::RenderRequest {
        width: 800,
        height: 600,
        style: viewer::render::Style {
            tint_reconstructed: true,
            ..Default::default()
        },
        scale_bar: true,
        ..Default::default()
    };
    let rendered = viewer::headless::render(gpu, &scene, &request)?;
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(rendered.image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}
