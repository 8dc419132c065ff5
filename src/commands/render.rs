//! `exhibit render`: draw a model offscreen into a PNG (lavapipe when there is no GPU).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::json;
use viewer::camera::Projection;
use viewer::headless::{RenderRequest, load_model_bytes, render, save_png};
use viewer::measure::{ErrorBudget, Measurement};
use viewer::render::Antialias;

use crate::commands::parse;
use crate::output;

#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per display switch, as on the command line"
)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.glb or .gltf).
    model: PathBuf,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
    /// Picture size in pixels, width x height (e.g. 1920x1080).
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// front, back, left, right, top, bottom (the six views of a design-patent drawing) or iso.
    #[arg(long, default_value = "iso")]
    view: String,
    /// orthographic (sizes independent of depth, as in patent drawings) or perspective.
    #[arg(long, default_value = "orthographic")]
    projection: String,
    /// Level of detail: 0 is the model, larger is coarser (past the coarsest draws the coarsest).
    #[arg(long, default_value_t = 0)]
    level: usize,
    /// Anti-aliasing: fxaa (one sample per pixel, then a smoothing pass), msaa (four samples per pixel) or none.
    #[arg(long, default_value = "fxaa")]
    aa: String,
    /// Draw this many frames and report their times (the picture is the last one).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// One normal per triangle instead of smooth shading.
    #[arg(long)]
    flat: bool,
    /// The clay matcap instead of the studio light rig.
    #[arg(long)]
    matcap: bool,
    /// See-through surface.
    #[arg(long)]
    xray: bool,
    /// Triangle edges over the surface.
    #[arg(long)]
    wireframe: bool,
    /// No silhouette and crease lines.
    #[arg(long)]
    no_edges: bool,
    /// Neutral clay instead of the file's colours.
    #[arg(long)]
    no_colors: bool,
    /// The shape alone: textured surfaces drawn without their images.
    #[arg(long)]
    no_textures: bool,
    /// Tint the surface that reconstruction filled in (not measured).
    #[arg(long)]
    tint_reconstructed: bool,
    /// Cut away what lies on the side a normal points to, of a plane through the model's centre moved an
    /// optional offset in millimetres along the normal; draws the cross-section's outline. Up to four.
    #[arg(long, value_name = "NX,NY,NZ[,OFFSET_MM]")]
    clip: Vec<String>,
    /// Draw a scale bar (orthographic projection only).
    #[arg(long)]
    scale_bar: bool,
    /// Measure between the surface points under two pixels X1,Y1,X2,Y2 and draw it with its bound.
    #[arg(long, value_name = "X1,Y1,X2,Y2")]
    measure_px: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    // The device says how large a picture it can draw (8192 to 32768 a side); wgpu checks, and its refusal is an
    // error naming the limit.
    let (width, height) = parse::size(&args.size, 1..=65536)?;
    let view = parse::view(&args.view)?;
    let projection = match args.projection.as_str() {
        "orthographic" | "ortho" => Projection::Orthographic,
        "perspective" => Projection::Perspective,
        other => bail!("--projection {other:?}: expected orthographic or perspective"),
    };
    if args.clip.len() > viewer::render::MAX_CLIP_PLANES {
        bail!("--clip: at most {} planes", viewer::render::MAX_CLIP_PLANES);
    }
    let bytes = fs_err::read(&args.model)?;
    let read_seconds = started.elapsed().as_secs_f64();
    let model = load_model_bytes(&bytes, &args.model, args.level)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    drop(bytes);
    let decode_seconds = started.elapsed().as_secs_f64() - read_seconds;
    let (low, high) = model
        .bounds()
        .with_context(|| format!("{} has nothing to draw", args.model.display()))?;
    let centre = [0, 1, 2].map(|a| (f64::from(low[a]) + f64::from(high[a])) * 0.5);
    let style = viewer::render::Style {
        flat: args.flat,
        matcap: args.matcap,
        xray: args.xray,
        wireframe: args.wireframe,
        edges: !args.no_edges,
        vertex_colors: !args.no_colors,
        textures: !args.no_textures,
        tint_reconstructed: args.tint_reconstructed,
        clip_planes: clip_planes(&args.clip, centre)?,
        ..Default::default()
    };
    let budget = ErrorBudget::from_manifest(model.manifest.as_ref(), model.level);
    let mut request = RenderRequest {
        width,
        height,
        view,
        projection,
        style,
        scale_bar: args.scale_bar,
        antialias: match args.aa.as_str() {
            "fxaa" => Antialias::Fxaa,
            "msaa" => Antialias::Msaa4,
            "none" => Antialias::None,
            other => bail!("--aa {other:?}: expected fxaa, msaa or none"),
        },
        frames: args.repeat.max(1),
        ..Default::default()
    };
    let aspect = f64::from(width) / f64::from(height);
    if let Some(text) = &args.measure_px {
        let v = parse::numbers(text, "--measure-px")?;
        if v.len() != 4 {
            bail!("--measure-px {text:?}: expected X1,Y1,X2,Y2");
        }
        if model.is_points() {
            bail!(
                "--measure-px: {} is a point cloud; measuring needs a surface",
                args.model.display()
            );
        }
        let camera = viewer::camera::Camera::fitted(view, projection, &model.positions, aspect);
        let pick = |x: f64, y: f64| {
            let (origin, direction) =
                camera.ray(x / f64::from(width), y / f64::from(height), aspect);
            model
                .pick(origin, direction)
                .with_context(|| format!("--measure-px: pixel ({x}, {y}) shows no surface"))
        };
        let a = pick(v[0], v[1])?;
        let b = pick(v[2], v[3])?;
        request.camera = Some(camera);
        request
            .measurements
            .push(Measurement::distance(a, b, budget.point_mm));
    }
    let gpu = viewer::gpu::Gpu::headless()?;
    let rendered = render(&gpu, &model, &request)?;
    save_png(&rendered.image, &args.output)?;
    let times = rendered.frame_times();
    let seconds = started.elapsed().as_secs_f64();
    let result = json!({
        "output": args.output,
        "width": width,
        "height": height,
        "adapter": gpu.adapter_description(),
        "seconds": seconds,
        "read_seconds": read_seconds,
        "decode_seconds": decode_seconds,
        "upload_seconds": rendered.upload_seconds,
        // From the bytes in memory to the first finished frame: decode, upload, draw (with pipeline compilation).
        "first_frame_seconds": decode_seconds + rendered.upload_seconds + times.first_ms * 1e-3,
        "frame_ms": times,
        "view": view.name(),
        "projection": args.projection,
        // What was drawn with: a device that cannot multisample every target smooths with FXAA instead.
        "antialias": if args.aa == "msaa" && !gpu.capabilities.msaa4 { "fxaa" } else { args.aa.as_str() },
        "level": model.level,
        "levels": model.levels,
        "triangles": model.triangle_count(),
        "vertices": model.positions.len(),
        "camera": rendered.camera,
        "scale_bar": rendered.scale_bar,
        "error_budget": budget,
        "measurements": request.measurements.iter().map(|m| json!({"measurement": m, "label": m.label()})).collect::<Vec<_>>(),
        "sections": rendered.sections.iter().map(|s| json!({"segments": s.segments.len(), "length_mm": s.length_mm})).collect::<Vec<_>>(),
    });
    if args.json {
        return output::print_json(&result);
    }
    let mut lines = vec![
        format!(
            "wrote {} ({width}x{height}, {} view)",
            args.output.display(),
            view.name()
        ),
        format!("adapter {}", gpu.adapter_description()),
        format!(
            "{} triangles (level {} of {}), frame {:.1} ms, {:.2} s in all",
            model.triangle_count(),
            model.level,
            model.levels,
            times.median_ms,
            seconds
        ),
    ];
    for m in &request.measurements {
        lines.push(format!("measured {}", m.label()));
    }
    if let Some(bar) = &rendered.scale_bar {
        lines.push(format!("scale bar {} = {:.1} px", bar.label, bar.pixels));
    }
    output::print_lines(&lines)
}

/// The `--clip` planes as the renderer takes them: `[nx, ny, nz, d]`, kept where `n·p + d >= 0`.
fn clip_planes(clips: &[String], centre: [f64; 3]) -> anyhow::Result<Vec<[f64; 4]>> {
    let mut planes = Vec::new();
    for clip in clips {
        let v = parse::numbers(clip, "--clip")?;
        if !(3..=4).contains(&v.len()) {
            bail!("--clip {clip:?}: expected NX,NY,NZ[,OFFSET_MM]");
        }
        let length = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if length == 0.0 {
            bail!("--clip {clip:?}: the normal is zero");
        }
        let n = [v[0] / length, v[1] / length, v[2] / length];
        let offset_m = v.get(3).copied().unwrap_or(0.0) * 1e-3;
        // Keep n·p <= n·c + offset, i.e. (−n)·p + (n·c + offset) >= 0.
        let d = n[0] * centre[0] + n[1] * centre[1] + n[2] * centre[2] + offset_m;
        planes.push([-n[0], -n[1], -n[2], d]);
    }
    Ok(planes)
}
