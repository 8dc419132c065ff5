//! `exhibit demo`: the main job on a bundled sample, end to end, saying what happened and where.
//!
//! A scan mesh becomes a compressed evidence model with its manifest, read back and checked; eight raw range
//! scans are placed by their pose file and their surface reconstructed, each vertex flagged measured or not,
//! and drawn. Then the court's half (`court.rs`): an embedded store, a case opened by its court number, the
//! model and its raw scans uploaded, both parties' confirmations, a share link with its QR code, the custody
//! log checked and the model re-derived from the store. `--serve` keeps the store running for a phone.

mod court;

use std::path::PathBuf;

use anyhow::{Context as _, ensure};
use serde_json::json;

use crate::output;

/// The Stanford bunny (Stanford University Computer Graphics Laboratory; see assets/README.md).
const SAMPLE_NAME: &str = "bun_zipper.ply";
const SAMPLE: &[u8] = include_bytes!("../../assets/stanford-bunny/bun_zipper.ply");
/// Eight raw range scans and the pose file that places them (it lists ten; `top2` and `top3` are not
/// in the repository's copy, so the demo shows the warning for them).
const VIEWS: [(&str, &[u8]); 9] = [
    (
        "bun000.ply",
        include_bytes!("../../assets/stanford-bunny/scans/bun000.ply"),
    ),
    (
        "bun045.ply",
        include_bytes!("../../assets/stanford-bunny/scans/bun045.ply"),
    ),
    (
        "bun090.ply",
        include_bytes!("../../assets/stanford-bunny/scans/bun090.ply"),
    ),
    (
        "bun180.ply",
        include_bytes!("../../assets/stanford-bunny/scans/bun180.ply"),
    ),
    (
        "bun270.ply",
        include_bytes!("../../assets/stanford-bunny/scans/bun270.ply"),
    ),
    (
        "bun315.ply",
        include_bytes!("../../assets/stanford-bunny/scans/bun315.ply"),
    ),
    (
        "chin.ply",
        include_bytes!("../../assets/stanford-bunny/scans/chin.ply"),
    ),
    (
        "ear_back.ply",
        include_bytes!("../../assets/stanford-bunny/scans/ear_back.ply"),
    ),
    (
        "bun.conf",
        include_bytes!("../../assets/stanford-bunny/scans/bun.conf"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the demo's files (created if missing).
    #[arg(long = "out", default_value = "exhibit-demo")]
    out: PathBuf,
    /// Keep the store running until Ctrl-C, so the share link and its QR code open on a phone.
    #[arg(long)]
    serve: bool,
    /// Where the store listens: default with --serve, this machine's address on its network, port 8080 (so
    /// a phone on the same network opens the QR code); without, 127.0.0.1 and a free port.
    #[arg(long)]
    bind: Option<String>,
    /// Print one JSON object on stdout (with --serve: once the store is serving) instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let bind = match (&args.bind, args.serve) {
        (Some(bind), _) => bind.clone(),
        (None, true) => lan_bind(),
        (None, false) => "127.0.0.1:0".to_owned(),
    };
    let made = make_models(args)?;
    let running = court::start_store(&args.out.join("store"), &bind)?;
    let court = court::run_case(&running, &made.views_glb, &made.scans, &args.out)?;
    let mut files = made.files.clone();
    files.push(court.qr_png.clone());
    // The store's database (its blobs sit beside it, named by their hashes).
    files.push(court.store_data.join("exhibit.db"));
    if args.json {
        output::print_json(&json!({
            "files": files,
            "store_url": court.store_url,
            "store_data": court.store_data,
            "share_url": court.share_url,
            "expires_at": court.expires_at,
            "case_page": court.case_page,
            "qr_png": court.qr_png,
            "qr_version": court.qr_version,
            "case": court.case,
            "case_number": court.case_number,
            "evidence": court.evidence,
            "model_sha256": court.model_sha256,
            "version": court.version,
            "inputs_uploaded": court.inputs_uploaded,
            "confirmations_verified": court.confirmations_verified,
            "custody_events_checked": court.custody_events_checked,
            "rederived": court.rederived,
            "tokens": court.tokens,
            "case_page_password": court.case_page_password,
            "rendered": made.adapter.is_some(),
            "adapter": made.adapter,
            "serving": args.serve,
        }))?;
        // The QR code still goes to the terminal, on stderr, where it does not disturb the JSON.
        if args.serve {
            eprintln!("{}", court.qr_lines.join("\n"));
        }
    } else {
        let mut lines = made.lines;
        lines.extend(court_lines(&court, args.serve));
        output::print_lines(&lines)?;
    }
    if args.serve {
        eprintln!(
            "exhibit demo: the store is serving at {} until Ctrl-C",
            court.store_url
        );
        return running.serve_forever();
    }
    Ok(())
}

/// This machine's address on its network and port 8080 (a free port when 8080 is taken), or loopback when it
/// has none. Connecting a UDP socket sends nothing; it only asks the kernel which address would be used.
fn lan_bind() -> String {
    let address = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("192.0.2.1:80")?;
            socket.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    let Some(ip) = address else {
        eprintln!("exhibit demo: this machine has no network address; serving on 127.0.0.1 only");
        return "127.0.0.1:8080".to_owned();
    };
    if std::net::TcpListener::bind((ip, 8080)).is_ok() {
        format!("{ip}:8080")
    } else {
        format!("{ip}:0")
    }
}

/// What the court half says, after the scan half's lines.
fn court_lines(court: &court::CourtResult, serving: bool) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        format!(
            "7. court store   {} (SQLite and blobs in {})",
            court.store_url,
            court.store_data.display()
        ),
        format!(
            "8. case          {} opened; technician, judge and both parties added",
            court.case_number
        ),
        format!(
            "9. upload        model {} (version {}) and {} raw input(s): scans and pose file",
            court.model_sha256,
            court.version.unwrap_or_default(),
            court.inputs_uploaded.len()
        ),
        format!(
            "10. confirmation both parties confirmed this exact version; {} signature(s) verify",
            court.confirmations_verified
        ),
        format!(
            "11. custody log  {} events, every one checks from the first",
            court.custody_events_checked
        ),
        "12. re-derived   exhibit verify --model-sha256 … --rederive-from the store: byte-identical".to_owned(),
        format!(
            "13. share link   {} (view only, expires {})",
            court.share_url, court.expires_at
        ),
        format!(
            "    QR code      {} (version {}); scan it off this screen:",
            court.qr_png.display(),
            court.qr_version
        ),
    ];
    lines.extend(court.qr_lines.iter().map(|l| format!("    {l}")));
    lines.push(format!("case page:       {}", court.case_page));
    lines.push(format!(
        "  sign in there as {:?}, {:?} or {:?} with the password {}",
        court::JUDGE,
        court::PLAINTIFF,
        court::DEFENDANT,
        court.case_page_password
    ));
    lines.push("tokens (shown once; each is a person of the case):".to_owned());
    for (who, token) in [
        ("admin", &court.tokens.admin),
        ("technician", &court.tokens.technician),
        ("judge", &court.tokens.judge),
        ("plaintiff", &court.tokens.plaintiff),
        ("defendant", &court.tokens.defendant),
    ] {
        lines.push(format!("  {who:<11} {token}"));
    }
    if !serving {
        lines.push(format!(
            "the store stopped with the demo; `exhibit demo --serve` keeps one running for a phone, or reopen this one: \
             exhibit serve --data {} --bind {}",
            court.store_data.display(),
            court.store_url.trim_start_matches("http://")
        ));
    }
    lines
}

/// What the scan half made.
struct Made {
    lines: Vec<String>,
    files: Vec<PathBuf>,
    views_glb: PathBuf,
    scans: PathBuf,
    /// The graphics adapter the picture was drawn on; `None` when none was found and nothing was drawn.
    adapter: Option<String>,
}

fn make_models(args: &Args) -> anyhow::Result<Made> {
    fs_err::create_dir_all(&args.out)?;
    let scan = args.out.join(SAMPLE_NAME);
    output::write_atomically(&scan, SAMPLE)
        .with_context(|| format!("cannot write {}", scan.display()))?;
    let mut lines = vec![
        "exhibit demo: a scan mesh becomes an evidence model with a bounded, recorded error"
            .to_owned(),
        String::new(),
        format!(
            "1. sample scan   {} (Stanford bunny, courtesy Stanford Computer Graphics Laboratory)",
            scan.display()
        ),
    ];

    let glb = args.out.join("bunny.glb");
    let ingest_args = crate::commands::ingest::demo_args(scan.clone(), glb.clone());
    let report = crate::commands::ingest::ingest(&ingest_args)?;
    lines.push(
        "2. ingest        exhibit ingest".to_owned()
            + &format!(" {} -o {}", scan.display(), glb.display()),
    );
    lines.extend(report.lines.iter().map(|l| format!("                 {l}")));

    let info = crate::commands::info::describe(&glb)?;
    let matches = info["bin_sha256_matches"].as_bool() == Some(true);
    ensure!(
        matches,
        "the model just written does not match its manifest's hash: {}",
        glb.display()
    );
    ensure!(
        info["triangles"] == report.json["triangles"],
        "reading the model back gave a different triangle count"
    );
    lines.push(format!(
        "3. read back     {} vertices, {} triangles; geometry hash matches the manifest",
        info["vertices"], info["triangles"]
    ));
    let ratio = SAMPLE.len() as f64 / report.json["bytes"].as_f64().unwrap_or(1.0);
    lines.push(format!(
        "4. result        {} bytes from a {} byte scan ({ratio:.1}x smaller), max error {:.4} mm",
        report.json["bytes"],
        SAMPLE.len(),
        report.json["max_error_mm"].as_f64().unwrap_or(f64::NAN)
    ));

    // Several views of one object, placed by their scanner poses.
    let scans = args.out.join("scans");
    fs_err::create_dir_all(&scans)?;
    for (name, bytes) in VIEWS {
        output::write_atomically(&scans.join(name), bytes)
            .with_context(|| format!("cannot write {name}"))?;
    }
    let views_glb = args.out.join("bunny-views.glb");
    let mut views_args =
        crate::commands::ingest::demo_args(scans.join("bun.conf"), views_glb.clone());
    views_args.precision_mm = 0.1;
    let views = crate::commands::ingest::ingest(&views_args)?;
    lines.push(format!(
        "5. eight raw scans placed by their poses, surface reconstructed (exhibit ingest {} -o {} --precision-mm 0.1)",
        scans.join("bun.conf").display(),
        views_glb.display()
    ));
    lines.extend(views.lines.iter().map(|l| format!("                 {l}")));

    // A picture of the reconstruction, reconstructed surface tinted, with a scale bar.
    let picture = args.out.join("bunny-views.png");
    let adapter = match render_picture(&views_glb, &picture) {
        Ok((line, adapter)) => {
            lines.push(format!("6. render        {line}"));
            Some(adapter)
        }
        // A machine without any graphics driver can still ingest and store; the message says what to install.
        Err(error) => {
            lines.push(format!("6. render        skipped: {error:#}"));
            None
        }
    };
    let rendered = adapter.is_some();
    lines.push(String::new());
    lines.push(format!("files in {}:", args.out.display()));
    lines.push(format!(
        "  {SAMPLE_NAME}              the scan as delivered"
    ));
    lines.push("  bunny.glb                  the model (glTF 2.0; any viewer with EXT_meshopt_compression opens it)".to_owned());
    lines.push("  bunny.manifest.json        inputs, steps, hashes and error bounds".to_owned());
    lines.push("  scans/                     eight raw range scans and their pose file".to_owned());
    lines.push("  bunny-views.glb            the surface reconstructed from the scans placed by their poses; _MEASURED marks what a scan saw".to_owned());
    if rendered {
        lines.push("  bunny-views.png            its iso view, reconstructed surface tinted orange, with a scale bar".to_owned());
    }
    lines.push("  share-qr.png               the share link's QR code".to_owned());
    lines.push("  store/                     the court store's database and blobs".to_owned());
    lines.push(format!("inspect it with: exhibit info {}", glb.display()));
    lines.push(format!(
        "open it with:    exhibit view {}",
        views_glb.display()
    ));
    let mut files = vec![
        scan.clone(),
        glb.clone(),
        crate::output::manifest_path(&glb),
        views_glb.clone(),
        crate::output::manifest_path(&views_glb),
    ];
    files.extend(VIEWS.iter().map(|(name, _)| scans.join(name)));
    if rendered {
        files.push(picture);
    }
    Ok(Made {
        lines,
        files,
        views_glb,
        scans,
        adapter,
    })
}

/// Draw the iso view of a model with its reconstructed surface tinted and a scale bar; one line saying what.
fn render_picture(
    model: &std::path::Path,
    picture: &std::path::Path,
) -> anyhow::Result<(String, String)> {
    let scene = viewer::headless::load_model(model, 0)?;
    let gpu = viewer::gpu::Gpu::headless()?;
    let request = viewer::headless::RenderRequest {
        style: viewer::render::Style {
            tint_reconstructed: true,
            ..Default::default()
        },
        scale_bar: true,
        ..Default::default()
    };
    let rendered = viewer::headless::render(&gpu, &scene, &request)?;
    viewer::headless::save_png(&rendered.image, picture)?;
    let line = format!(
        "{} ({}x{}, iso view, scale bar {}) on {}",
        picture.display(),
        request.width,
        request.height,
        rendered
            .scale_bar
            .map_or_else(|| "none".into(), |b| b.label),
        gpu.adapter_description()
    );
    Ok((line, gpu.adapter_description()))
}
