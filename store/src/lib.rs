//! The court store: cases, evidence, immutable model versions, blobs by hash, resumable uploads (tus 1.0),
//! roles, share links with QR codes. SQLite and a folder by default; PostgreSQL and an S3-compatible
//! object store at scale, with the same code and the same tests.
//!
//! Durability rule: a 2xx answer to a write means the bytes are fsynced and the row committed. Nothing
//! is visible as evidence before both.

// Reason: handlers and small accessors return values nobody would drop by mistake; marking each is noise.
#![allow(clippy::must_use_candidate, reason = "see above")]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;

use axum::routing::{get, post};
use custody::writer as events;
use handlers::{
    api, comparisons, confirm, download, log_api, report, scrub, share, sign_in, transfer, tus,
};

pub mod blobs;
pub mod body;
pub mod bundle_frame;
pub mod connection;
pub mod custody;
pub mod db;
pub mod error;
pub mod handlers;
pub mod headers;
pub mod pages;
pub mod private_files;
pub mod random;
pub mod rate_limit;
pub mod records;
pub mod reserve;
pub mod sealed;
pub mod security;
pub mod services;
pub mod validate;

pub use blobs::Blobs;
pub use db::Db;

/// Draws a PNG preview of a GLB model (the `exhibit` binary passes the viewer's headless renderer;
/// the store itself never links a GPU library).
pub type Previewer = Arc<dyn Fn(&[u8]) -> anyhow::Result<Vec<u8>> + Send + Sync>;

/// How `exhibit serve` was started.
#[derive(Clone)]
pub struct Config {
    /// Folder for the SQLite database, the blob folder, the admin token and scratch space.
    pub data: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// `sqlite:PATH` or `postgres://…`; default `sqlite:DATA/exhibit.db`.
    pub database: Option<String>,
    /// `s3://bucket?endpoint=…`; default the folder `DATA/blobs`.
    pub blobs: Option<String>,
    /// The address people reach the store at, for share links (default `http://BIND`).
    pub public_url: Option<String>,
    /// Largest upload accepted (413 above it).
    pub max_upload_bytes: u64,
    /// How long a request's headers or body may stall before the client counts as gone.
    pub idle_timeout: Duration,
    /// Renders share-page previews; without one the page says there is no render.
    pub previewer: Option<Previewer>,
    /// The custody log's Ed25519 key (hex seed; made on first start). Instances sharing a database share it.
    pub signing_key: Option<PathBuf>,
    /// The custody log's name in its checkpoints (default: the public URL).
    pub origin: Option<String>,
    /// Disk space kept in reserve for the custody log (embedded database only), bytes.
    pub reserve_bytes: u64,
    /// Hash every whole download as it streams (default). When false, a blob is hashed again only when its
    /// file changed or the last check is over 5 minutes old, as for range requests: faster, but bit rot
    /// that changes no file metadata is caught only by then, or by the scrub.
    pub hash_every_download: bool,
    /// The web viewer (`scripts/build-web` writes it to `web/dist`): served under `/app/`, and share pages
    /// draw the model live with it. Without it, share pages show the store's render only.
    pub web_dir: Option<PathBuf>,
    /// Public keys (hex) of the courts whose transfer bundles this store imports (`--trust-court`). A bundle
    /// sealed by any other key is refused, whatever it says about itself.
    pub trusted_courts: Vec<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data", &self.data)
            .field("bind", &self.bind)
            .field("database", &self.database)
            .field("blobs", &self.blobs)
            .field("public_url", &self.public_url)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("previewer", &self.previewer.is_some())
            .field("web_dir", &self.web_dir)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for a data folder: SQLite and blobs inside it, 4 GiB uploads, 30 s idle timeout.
    pub fn new(data: PathBuf) -> Self {
        Self {
            data,
            bind: "127.0.0.1:8080".into(),
            database: None,
            blobs: None,
            public_url: None,
            max_upload_bytes: 4 << 30,
            idle_timeout: Duration::from_secs(30),
            previewer: None,
            signing_key: None,
            origin: None,
            reserve_bytes: 64 << 20,
            hash_every_download: true,
            web_dir: None,
            trusted_courts: Vec::new(),
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub db: Arc<Db>,
    /// The event writer (group commit).
    pub events: events::EventLog,
    /// The custody log's signing key and origin.
    pub signer: Arc<custody::Signer>,
    /// Disk space kept for the custody log when the disk fills up.
    pub reserve: Arc<reserve::Reserve>,
    pub blobs: Blobs,
    pub config: Config,
    /// The base of share links, without a trailing slash.
    pub public_url: String,
    /// Uploads with a PATCH in progress on this instance (a second one answers 423).
    pub busy_uploads: Mutex<HashSet<String>>,
    /// Blobs whose hash was checked recently, by file fingerprint (folder backend), so that range
    /// requests do not re-hash a large model each time.
    pub verified: Mutex<HashMap<String, (blobs::Fingerprint, Instant)>>,
    /// Buckets of requests for what anyone may ask without a token.
    pub rate_limit: rate_limit::Limiter,
    /// Failed browser sign-ins, by name and by address.
    pub sign_in_failures: services::sign_in::FailureLimiter,
    /// Chunk sums of blobs hashed whole, for later downloads of the same bytes.
    pub chunk_sums: Arc<download::ChunkSums>,
    /// Previews drawn at once (one: a CPU renderer takes every core).
    pub preview_slots: tokio::sync::Semaphore,
}

/// What `serve` tells its caller once it listens.
#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    /// Where the first start wrote the admin token (`None` when users existed already).
    pub admin_token_file: Option<PathBuf>,
}

/// Open the backends and answer requests until the process is stopped.
pub async fn serve(config: Config, on_start: impl FnOnce(&Started)) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("--bind {}: {e}", config.bind))?;
    let local = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    let (state, admin_token_file) = open(config, &public_url).await?;
    tus::finish_pending(&state).await;
    let header_timeout = state.config.idle_timeout;
    let app = router(state);
    on_start(&Started {
        url: public_url,
        admin_token_file,
    });
    accept_loop(listener, app, header_timeout).await
}

/// Open the backends and everything a request needs, without listening: `serve` answers with it, tests
/// call [`router`] on it in process. `public_url` is the base of share links. Also returns where the first
/// start wrote the admin token.
pub async fn open(
    config: Config,
    public_url: &str,
) -> anyhow::Result<(Arc<AppState>, Option<PathBuf>)> {
    // Evidence, tokens and keys are the court's: closed to other accounts on the machine.
    private_files::private_dir(&config.data)
        .map_err(|e| anyhow::anyhow!("--data {}: {e:#}", config.data.display()))?;
    let database = if let Some(url) = config.database.clone() {
        url
    } else {
        let file = config.data.join("exhibit.db");
        // Made 0600 before SQLite opens it: its -wal and -shm files take the database file's permissions.
        private_files::private_file(&file)?;
        for journal in ["exhibit.db-wal", "exhibit.db-shm"] {
            let path = config.data.join(journal);
            if path.exists() {
                private_files::restrict(&path, 0o600)?;
            }
        }
        format!("sqlite://{}?mode=rwc", file.display())
    };
    let db = Arc::new(Db::open(&database).await?);
    let filled = custody::fill_nodes(&db).await?;
    if filled > 0 {
        tracing::info!("kept {filled} subtree hashes of a log written before proofs used them");
    }
    let blobs = Blobs::open(config.blobs.as_deref(), &config.data)?;
    let origin = config
        .origin
        .clone()
        .unwrap_or_else(|| public_url.to_owned());
    let key_path = config
        .signing_key
        .clone()
        .unwrap_or_else(|| config.data.join("signing.key"));
    let signer = Arc::new(custody::Signer::load_or_create(&key_path, &origin)?);
    let admin_token_file = crate::services::auth::bootstrap_admin(&db, &config.data).await?;
    let reserve = Arc::new(reserve::Reserve::new(
        (db.dialect == db::Dialect::Sqlite).then(|| config.data.join("reserve")),
        config.reserve_bytes,
    ));
    let state = Arc::new(AppState {
        events: events::EventLog::start(Arc::clone(&db), Arc::clone(&signer), Arc::clone(&reserve)),
        signer,
        reserve,
        db,
        blobs,
        config,
        public_url: public_url.to_owned(),
        busy_uploads: Mutex::new(HashSet::new()),
        verified: Mutex::new(HashMap::new()),
        preview_slots: tokio::sync::Semaphore::new(1),
        rate_limit: rate_limit::Limiter::default(),
        sign_in_failures: services::sign_in::FailureLimiter::default(),
        chunk_sums: Arc::default(),
    });
    let sealed = confirm::seal_plain_keys(&state).await?;
    if sealed > 0 {
        tracing::info!("sealed {sealed} held key(s) an earlier version kept in plain text");
    }
    Ok((state, admin_token_file))
}

/// Every route of the API and the share pages.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/whoami", get(api::whoami))
        .route("/api/users", get(api::list_users).post(api::create_user))
        .route(
            "/api/session",
            get(sign_in::current)
                .post(sign_in::sign_in)
                .delete(sign_in::sign_out),
        )
        .route(
            "/api/users/{user}/password",
            axum::routing::put(sign_in::set_password),
        )
        .route(
            "/api/users/{user}/tokens",
            get(sign_in::list_tokens).post(sign_in::create_token),
        )
        .route(
            "/api/users/{user}/tokens/{token}",
            axum::routing::delete(sign_in::revoke_token),
        )
        .route(
            "/api/cases/{case}/members/{user}",
            axum::routing::delete(sign_in::remove_member),
        )
        .route("/api/cases", get(api::list_cases).post(api::create_case))
        .route("/api/cases/{case}", get(api::get_case))
        .route("/api/cases/{case}/members", post(api::add_member))
        .route(
            "/api/cases/{case}/evidence",
            get(api::list_evidence).post(api::add_evidence),
        )
        .route("/api/cases/{case}/events", get(api::case_events))
        .route("/api/cases/{case}/report", get(report::case_report))
        .route("/api/cases/{case}/bundle", get(transfer::export))
        .route(
            "/api/transfers",
            post(transfer::import).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/evidence/{evidence}", get(api::get_evidence))
        .route(
            "/api/versions/{sha256}/confirmations",
            post(confirm::create),
        )
        .route("/api/blobs/{sha256}", get(download::get_blob))
        .route("/api/uploads", post(tus::create).options(tus::options))
        .route(
            "/api/uploads/{id}",
            get(tus::status)
                .head(tus::head)
                .patch(tus::patch)
                .delete(tus::terminate)
                .options(tus::options),
        )
        .route(
            "/api/cases/{case}/comparisons",
            get(comparisons::list).post(comparisons::save),
        )
        .route("/api/comparisons/{id}", get(comparisons::get))
        .route(
            "/api/comparisons/{id}/report.json",
            get(comparisons::report),
        )
        .route(
            "/api/comparisons/{id}/heat-map.png",
            get(comparisons::heat_map),
        )
        .route("/api/shares", get(share::list).post(share::create))
        .route("/api/shares/{id}", axum::routing::delete(share::revoke))
        .route("/api/admin/scrub", post(scrub::scrub_endpoint))
        .route("/api/admin/log-check", post(log_api::check))
        .route("/api/log/checkpoint", get(log_api::latest))
        .route("/api/log/inclusion", get(log_api::inclusion))
        .route("/api/log/consistency", get(log_api::consistency))
        .route("/api/log/entries/{seq}", get(log_api::entry))
        .route("/s/{token}", get(share::page))
        .route("/s/{token}/model.glb", get(share::model))
        .route("/s/{token}/other.glb", get(share::other_model))
        .route("/s/{token}/render.png", get(share::render))
        .route("/s/{token}/heat-map.png", get(share::heat_map))
        .route("/app/{file}", get(handlers::app_files::web_app_file))
        .route("/assets/{file}", get(handlers::app_files::asset))
        .route("/cases/{case}", get(handlers::app_files::case_page))
        .route("/s/{token}/comparison.json", get(share::comparison_report))
        .route("/s/{token}/qr.png", get(share::qr_png))
        .route("/s/{token}/qr.svg", get(share::qr_svg))
        .fallback(|| async { error::ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}

/// HTTP/1.1 with a header-read timeout (the idle timeout), so that a client that never finishes its headers cannot hold
/// a connection forever (axum's own `serve` offers no such setting).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
) -> anyhow::Result<()> {
    use tower::ServiceExt as _;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(Peer(peer));
                    app.clone().oneshot(request.map(axum::body::Body::new))
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(
                    hyper_util::rt::TokioIo::new(connection::WriteDeadline::new(
                        stream,
                        header_timeout,
                    )),
                    service,
                );
            if let Err(e) = connection.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}

/// The client's address, put on every request by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
