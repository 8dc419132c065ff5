//! `exhibit ingest`: scan files in, evidence model out.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "command-line switches, each its own flag"
)]
pub struct Args {
    /// Scan files to read (the formats are listed below), or a Stanford .conf naming several views.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the model; the manifest goes beside it as OUT.manifest.json.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Unit of the input coordinates: m, cm, mm or in (default: the format's, see README).
    #[arg(long)]
    unit: Option<ingest::Unit>,
    /// For text point files (.xyz .pts .txt .csv): what each column is, e.g. x,y,z,i,r,g,b (_ skips one).
    #[arg(long, value_parser = parse_columns)]
    columns: Option<Columns>,
    /// Largest distance any vertex may move when encoded, in millimetres.
    #[arg(long = "precision-mm", default_value_t = codec::DEFAULT_PRECISION_M * 1e3)]
    pub precision_mm: f64,
    /// A Stanford .conf file with a pose for each view: the views are moved into one frame and merged.
    #[arg(long)]
    poses: Option<PathBuf>,
    /// Keep a point cloud as points (glTF POINTS) instead of reconstructing its surface.
    #[arg(long)]
    points: bool,
    /// Refine the pose file's poses by point-to-plane ICP (each view onto the ones before it).
    #[arg(long)]
    icp: bool,
    /// Voxel side for thinning points before reconstruction, in millimetres (default: the median point
    /// spacing; 0 keeps every point).
    #[arg(long = "voxel-mm")]
    voxel_mm: Option<f64>,
    /// Remove points whose mean distance to their 16 nearest neighbours is more than this many standard
    /// deviations above the cloud's mean (default: off).
    #[arg(long = "outlier-std")]
    outlier_std: Option<f64>,
    /// Remove reconstructed surface farther than this many point spacings from every point (default 6;
    /// 0 keeps the whole closed surface, the filled-in part flagged reconstructed).
    #[arg(long = "trim-spacings")]
    trim_spacings: Option<f64>,
    /// Finest reconstruction grid, 2^depth nodes across (default: from the point spacing, 6 to 10).
    #[arg(long, value_parser = clap::value_parser!(u32).range(5..=12))]
    depth: Option<u32>,
    /// Levels of detail stored in the file, the model included (1: the model alone). Each coarser level has
    /// about a quarter of the triangles of the one before, down to 2,000; its measured distance from the
    /// model is recorded.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=8))]
    lod: u32,
    /// Send the model and every raw input it was made from to the court store (needs --store, --case,
    /// --evidence and a token), resumably, as `exhibit upload MODEL --with-inputs` does.
    #[arg(long)]
    upload: bool,
    #[command(flatten)]
    target: crate::commands::upload::Target,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

/// The column names of `--columns`, checked when the arguments are parsed (a bad one is a usage error).
#[derive(Clone, Debug)]
pub struct Columns(Vec<String>);

fn parse_columns(spec: &str) -> Result<Columns, String> {
    ingest::parse_columns(spec).map(Columns)
}

/// The result of one ingest, for the demo and for printing.
pub struct Report {
    pub json: serde_json::Value,
    pub lines: Vec<String>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    // Resolve the store, case and evidence before the work: a typo should not cost a reconstruction.
    let target = if args.upload {
        Some(args.target.resolve()?)
    } else {
        None
    };
    let mut report = ingest(args)?;
    if let Some(target) = target {
        let model = crate::commands::upload::send(&target, &args.output, "model")?;
        // The inputs lie beside the files named on the command line (a pose file lists views beside it).
        let mut dirs: Vec<PathBuf> = args
            .inputs
            .iter()
            .chain(args.poses.iter())
            .map(|p| match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        let inputs = crate::commands::upload::send_inputs(&target, &args.output, &dirs)?;
        report
            .lines
            .extend(crate::commands::upload::receipt_lines(&args.output, &model));
        report
            .lines
            .extend(crate::commands::upload::input_lines(&inputs));
        let mut upload = crate::commands::upload::receipt_json(&model, "model");
        upload["inputs"] = crate::commands::upload::inputs_json(&inputs);
        report.json["upload"] = upload;
    }
    if args.json {
        output::print_json(&report.json)
    } else {
        output::print_lines(&report.lines)
    }
}

pub fn ingest(args: &Args) -> anyhow::Result<Report> {
    let started = Instant::now();
    let input = &args.inputs[0];
    if let Some(trim) = args.trim_spacings
        && !(trim.is_finite() && trim >= 0.0)
    {
        bail!("--trim-spacings {trim} must be a number ≥ 0");
    }
    if !(args.precision_mm.is_finite() && args.precision_mm > 0.0) {
        bail!(
            "--precision-mm {} must be a positive number",
            args.precision_mm
        );
    }
    let config = ingest::IngestConfig {
        read: ingest::ReadOptions {
            unit: args.unit,
            columns: args.columns.as_ref().map(|c| c.0.clone()),
        },
        poses: args.poses.clone(),
        encode: codec::EncodeConfig {
            precision_m: args.precision_mm * 1e-3,
        },
        points_only: args.points,
        refine_registration: args.icp,
        surface: ingest::surface::SurfaceOptions {
            progress: Some(ingest::surface::Progress(spinner::stage)),
            depth: args.depth,
            voxel_m: args.voxel_mm.map(|v| v * 1e-3),
            outlier_ratio: args.outlier_std.unwrap_or(0.0),
            trim_spacings: args
                .trim_spacings
                .unwrap_or(ingest::surface::SurfaceOptions::default().trim_spacings),
            ..ingest::surface::SurfaceOptions::default()
        },
        lod: ingest::lod::LodOptions {
            levels: args.lod as usize,
            ..ingest::lod::LodOptions::default()
        },
    };
    let result = ingest::ingest_files(&args.inputs, &config);
    spinner::finish();
    let result = result?;
    let model = &result.model;
    let glb_name = args
        .output
        .file_name()
        .map_or_else(|| "model.glb".into(), |n| n.to_string_lossy().into_owned());
    let sidecar = model.sidecar_manifest(&glb_name);
    let manifest_path = output::manifest_path(&args.output);
    output::write_atomically(&args.output, &model.glb)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    output::write_atomically(&manifest_path, &sidecar.to_pretty_json())
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    let stats = &model.stats;
    let sha256 = sidecar
        .output
        .as_ref()
        .map(|o| o.sha256.clone())
        .unwrap_or_default();
    let points_used = stats.vertices;
    let stages: serde_json::Map<String, serde_json::Value> = result
        .stages
        .iter()
        .map(|(name, seconds)| ((*name).to_owned(), json!(seconds)))
        .collect();
    let json = json!({
        "points_in": result.points_in,
        "points_used": points_used,
        "vertices": stats.vertices,
        "triangles": stats.triangles,
        "bytes": model.glb.len(),
        "sha256": sha256,
        "precision_mm": args.precision_mm,
        "max_error_mm": stats.max_position_error_m * 1e3,
        "max_normal_error_deg": stats.max_normal_error_deg,
        "chunks": stats.chunks,
        "textures": sidecar.textures.iter().filter(|t| t.level == 0).count(),
        "max_uv_error_texels": stats.max_uv_error_texels,
        "texture_records": sidecar.textures,
        "levels": sidecar.levels.iter().map(|l| json!({
            "level": l.level, "triangles": l.triangles, "bytes": l.bin_bytes, "max_error_mm": l.max_error_mm,
        })).collect::<Vec<_>>(),
        "output": args.output,
        "manifest": manifest_path,
        "notes": result.notes,
        "seconds": started.elapsed().as_secs_f64(),
        "stages": stages,
    });
    let input_bytes = sidecar.inputs.first().map_or(0, |i| i.bytes);
    let mut lines = vec![
        format!(
            "read     {} ({} bytes, sha256 {})",
            input.display(),
            input_bytes,
            sidecar.inputs.first().map_or("", |i| i.sha256.as_str())
        ),
        format!(
            "encoded  {} vertices, {} triangles in {} chunk(s)",
            stats.vertices, stats.triangles, stats.chunks
        ),
        format!(
            "error    grid step {:.4} mm, measured max position error {:.4} mm (requested ≤ {} mm){}",
            stats.grid_step_m * 1e3,
            stats.max_position_error_m * 1e3,
            args.precision_mm,
            stats
                .max_normal_error_deg
                .map(|d| format!(", normals ≤ {d:.2}°"))
                .unwrap_or_default()
        ),
    ];
    for level in &sidecar.levels {
        lines.push(format!(
            "level {}  {} triangles, {} bytes, within {:.3} mm of the model (measured)",
            level.level, level.triangles, level.bin_bytes, level.max_error_mm
        ));
    }
    lines.extend(texture_lines(&sidecar.textures));
    lines.extend([
        format!(
            "wrote    {} ({} bytes, sha256 {sha256})",
            args.output.display(),
            model.glb.len()
        ),
        format!("wrote    {}", manifest_path.display()),
    ]);
    lines.extend(result.notes.iter().map(|n| format!("note     {n}")));
    Ok(Report { json, lines })
}

/// One line per image of a model: its level, size and format, and what it cost against its source, measured.
pub fn texture_lines(records: &[codec::manifest::TextureRecord]) -> Vec<String> {
    records
        .iter()
        .map(|t| {
            let loss = &t.origin.loss;
            let cost = if loss.lossless {
                "identical to the source pixels".to_owned()
            } else {
                let psnr = loss
                    .psnr_db
                    .iter()
                    .flatten()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                format!(
                    "SSIM {:.4}, PSNR ≥ {psnr:.1} dB, largest error {} of 255 (measured against the {}×{} source)",
                    loss.ssim,
                    loss.max_abs_error.iter().max().copied().unwrap_or(0),
                    loss.source_size[0],
                    loss.source_size[1]
                )
            };
            format!(
                "texture  level {} image {}: {} {}×{} {} ({} bytes), {}; UV error ≤ {:.4} texel",
                t.level, t.image, t.name, t.width, t.height, t.mime_type, t.bytes, cost, t.max_uv_error_texels
            )
        })
        .collect()
}

/// A spinner on stderr naming the stage under way, with the time it has taken; indicatif hides it when
/// stderr is not a terminal (pipes, tests, CI), so nothing but results reaches a log.
mod spinner {
    use std::sync::OnceLock;
    use std::time::Duration;

    static BAR: OnceLock<indicatif::ProgressBar> = OnceLock::new();

    fn bar() -> &'static indicatif::ProgressBar {
        BAR.get_or_init(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }

    pub fn stage(name: &'static str) {
        let bar = bar();
        bar.reset_elapsed();
        bar.set_message(name);
    }

    pub fn finish() {
        if let Some(bar) = BAR.get() {
            bar.finish_and_clear();
        }
    }
}

/// Arguments for ingesting one file with the defaults, as the demo does.
pub fn demo_args(input: PathBuf, output: PathBuf) -> Args {
    Args {
        inputs: vec![input],
        output,
        unit: None,
        columns: None,
        poses: None,
        points: false,
        icp: false,
        voxel_mm: None,
        outlier_std: None,
        trim_spacings: None,
        depth: None,
        lod: 4,
        precision_mm: codec::DEFAULT_PRECISION_M * 1e3,
        upload: false,
        target: crate::commands::upload::Target {
            store: None,
            case: None,
            evidence: None,
            token: None,
            chunk_mb: 8,
            retry_for_s: 300,
        },
        json: false,
    }
}
