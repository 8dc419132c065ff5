//! `exhibit demo`: the main job on a bundled sample, end to end, saying what happened and where.
//!
//! It grows as capabilities land. Today: a scan mesh becomes a compressed evidence model with its
//! manifest, which is then read back and checked against the manifest; then eight raw range scans are
//! placed by their pose file and their surface is reconstructed, each vertex flagged measured or not.

use std::path::PathBuf;

use anyhow::{Context as _, ensure};

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
}

pub fn run(args: &Args) -> anyhow::Result<()> {
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
    match render_picture(&views_glb, &picture) {
        Ok(line) => lines.push(format!("6. render        {line}")),
        // A machine without any graphics driver can still ingest; say what to install.
        Err(error) => lines.push(format!(
            "6. render        skipped: {error:#} (install Mesa's lavapipe: apt-get install mesa-vulkan-drivers)"
        )),
    }
    lines.push(String::new());
    lines.push(format!("files in {}:", args.out.display()));
    lines.push(format!(
        "  {SAMPLE_NAME}              the scan as delivered"
    ));
    lines.push("  bunny.glb                  the model (glTF 2.0; any viewer with EXT_meshopt_compression opens it)".to_owned());
    lines.push("  bunny.manifest.json        inputs, steps, hashes and error bounds".to_owned());
    lines.push("  scans/                     eight raw range scans and their pose file".to_owned());
    lines.push("  bunny-views.glb            the surface reconstructed from the scans placed by their poses; _MEASURED marks what a scan saw".to_owned());
    lines.push("  bunny-views.png            its iso view, reconstructed surface tinted orange, with a scale bar".to_owned());
    lines.push(format!("inspect it with: exhibit info {}", glb.display()));
    lines.push(format!(
        "open it with:    exhibit view {}",
        views_glb.display()
    ));
    output::print_lines(&lines)
}

/// Draw the iso view of a model with its reconstructed surface tinted and a scale bar; one line saying what.
fn render_picture(model: &std::path::Path, picture: &std::path::Path) -> anyhow::Result<String> {
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
    Ok(format!(
        "{} ({}x{}, iso view, scale bar {}) on {}",
        picture.display(),
        request.width,
        request.height,
        rendered
            .scale_bar
            .map_or_else(|| "none".into(), |b| b.label),
        gpu.adapter_description()
    ))
}
