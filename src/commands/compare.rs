//! `exhibit compare`: align model B onto model A, measure A's deviation from B, and write the heat map and
//! the report (JSON and a printable page).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::client::Lookups as _;
use anyhow::{Context as _, bail};
use serde_json::json;
use viewer::camera::{Projection, StandardView};
use viewer::compare::{Align, CompareOptions, compare};
use viewer::gpu::Gpu;
use viewer::headless::{RenderRequest, load_model_bytes, render, render_all};
use viewer::measure::ErrorBudget;
use viewer::report::{ModelFacts, ReportPage, html};
use viewer::scene::SceneModel;

use crate::commands::parse;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model A: the one measured (e.g. the accused product).
    a: PathBuf,
    /// Model B: the reference (e.g. the patented design).
    b: PathBuf,
    /// How B is brought onto A: icp (principal axes, then robust point-to-plane ICP), pairs (picked
    /// corresponding points, see --pairs), pairs+icp (pairs, then ICP) or none.
    #[arg(long, default_value = "icp")]
    align: String,
    /// Corresponding points for --align pairs: a JSON file {"a": [[x, y, z], ...], "b": [...]}, world metres,
    /// three or more pairs, as the viewer's picking reports them.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Count only the points inside this box in the statistics: X0,Y0,Z0,X1,Y1,Z1 in world metres (the heat map
    /// still colours everything).
    #[arg(long, value_name = "X0,Y0,Z0,X1,Y1,Z1")]
    roi: Option<String>,
    /// Allow a uniform scale between the models (a scale model against the real thing).
    #[arg(long)]
    scale: bool,
    /// Deviations within plus or minus this many millimetres count as the same.
    #[arg(long, default_value_t = 0.5)]
    tolerance_mm: f64,
    /// Write the report: this JSON file and an HTML page beside it (same name, .html).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the heat map (A coloured by its deviation, with a legend) as PNG.
    #[arg(long)]
    png: Option<PathBuf>,
    /// The heat map's view: front, back, left, right, top, bottom or iso.
    #[arg(long, default_value = "iso")]
    view: String,
    /// The heat map's size in pixels, width x height.
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Save the comparison (its report and heat map) to this court store, in the case --case; the store
    /// checks that A and B are model versions of that case. `exhibit share --comparison ID` then links it.
    #[arg(long, requires = "case")]
    store: Option<String>,
    /// The case to save the comparison in: its id or its court number.
    #[arg(long, requires = "store")]
    case: Option<String>,
    /// Bearer token for --store (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Also compare appearance: the CIEDE2000 colour difference between corresponding surface points, sampled
    /// from the models' textures (or vertex colours); for trade dress and printed packaging.
    #[arg(long, alias = "color")]
    colour: bool,
    /// With --colour: colour differences up to this ΔE₀₀ count as the same.
    #[arg(long, default_value_t = 3.0, requires = "colour")]
    tolerance_de: f64,
    /// With --colour: write the colour-difference map (A coloured by ΔE₀₀, with a legend) as PNG.
    #[arg(long, requires = "colour")]
    colour_png: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// The `--align` method, reading `--pairs` when it names pairs.
fn alignment_method(args: &Args) -> anyhow::Result<Align> {
    Ok(match args.align.as_str() {
        "icp" => Align::Icp,
        "none" => Align::None,
        "pairs" | "pairs+icp" => {
            let path = args
                .pairs
                .as_ref()
                .context("--align pairs needs --pairs FILE")?;
            let text = fs_err::read_to_string(path)?;
            let pairs: Pairs = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: expected {{\"a\": [[x, y, z], ...], \"b\": [[x, y, z], ...]}} in metres",
                    path.display()
                )
            })?;
            Align::Pairs {
                a: pairs.a,
                b: pairs.b,
                refine: args.align == "pairs+icp",
            }
        }
        other => bail!("--align {other:?}: expected icp, none, pairs or pairs+icp"),
    })
}

/// The `--roi` box, low and high corners in world metres.
fn region_of_interest(roi: Option<&str>) -> anyhow::Result<Option<([f64; 3], [f64; 3])>> {
    Ok(match roi {
        None => None,
        Some(text) => {
            let v = parse::numbers(text, "--roi")?;
            if v.len() != 6 || (0..3).any(|i| v[i] > v[i + 3]) {
                bail!(
                    "--roi {text:?}: expected six numbers X0,Y0,Z0,X1,Y1,Z1 with each low corner value at most the high one"
                );
            }
            Some(([v[0], v[1], v[2]], [v[3], v[4], v[5]]))
        }
    })
}

/// Picked corresponding points.
#[derive(serde::Deserialize)]
struct Pairs {
    a: Vec<[f64; 3]>,
    b: Vec<[f64; 3]>,
}

/// The GPU the maps were drawn on, the heat map's PNG and the colour-difference map's PNG (with `--colour`).
type Maps = (Gpu, Vec<u8>, Option<Vec<u8>>);

/// The pictures, drawn once a picture is asked for: the heat map (with its legend), and with `--colour` the
/// colour-difference map; with the GPU they were drawn on, for the report's six views.
fn draw_maps(
    args: &Args,
    (a, b): (&SceneModel, &SceneModel),
    comparison: &viewer::compare::Comparison,
    colour: Option<&viewer::appearance::ColourComparison>,
    (width, height): (u32, u32),
    view: StandardView,
) -> anyhow::Result<Option<Maps>> {
    let s = &comparison.statistics;
    let needs_pictures = args.png.is_some()
        || args.report.is_some()
        || args.store.is_some()
        || args.colour_png.is_some();
    if !needs_pictures {
        return Ok(None);
    }
    let gpu = Gpu::headless()?;
    let colors = comparison
        .deviation_mm
        .iter()
        .map(|&d| viewer::heatmap::color(f64::from(d), s.tolerance_mm, s.range_mm))
        .collect();
    // The heat map colours what was measured: A, or B's points moved onto A.
    let heat_model = if comparison.direction == viewer::compare::Direction::BPointsToASurface {
        b.moved(comparison.b_aligned.clone(), a.origin_m)
            .recolored(colors)
    } else {
        a.recolored(colors)
    };
    let request = RenderRequest {
        width,
        height,
        view,
        projection: Projection::Orthographic,
        ..RenderRequest::default()
    };
    let mut image = render(&gpu, &heat_model, &request)?.image;
    viewer::heatmap::draw_legend(&mut image, s.tolerance_mm, s.range_mm);
    let colour_png = match &colour {
        Some(colour) => {
            let mut image = render(&gpu, &colour.map_on(a), &request)?.image;
            viewer::appearance::draw_legend(&mut image, colour.statistics.tolerance_de);
            Some(png_bytes(&image)?)
        }
        None => None,
    };
    Ok(Some((gpu, png_bytes(&image)?, colour_png)))
}

/// With `--colour`: the colour difference of A and B, B aligned as the comparison placed it.
fn colour_difference(
    args: &Args,
    a: &SceneModel,
    b: &SceneModel,
    comparison: &viewer::compare::Comparison,
) -> anyhow::Result<Option<viewer::appearance::ColourComparison>> {
    if !args.colour {
        return Ok(None);
    }
    let options = viewer::appearance::ColourOptions {
        tolerance_de: args.tolerance_de,
        ..viewer::appearance::ColourOptions::default()
    };
    viewer::appearance::compare_colour(a, b, &comparison.b_aligned, &options)
        .map(Some)
        .map_err(|reason| {
            anyhow::anyhow!(
                "cannot compare the colours of {} and {}: {reason}",
                args.a.display(),
                args.b.display()
            )
        })
}

fn load(path: &Path) -> anyhow::Result<(SceneModel, String, u64)> {
    let bytes = fs_err::read(path)?;
    let sha256 = codec::manifest::sha256_hex(&bytes);
    let model = load_model_bytes(&bytes, path, 0)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((model, sha256, bytes.len() as u64))
}

fn facts(path: &Path, model: &SceneModel, sha256: &str) -> ModelFacts {
    ModelFacts {
        name: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        sha256: sha256.to_string(),
        vertices: model.positions.len(),
        triangles: model.triangle_count(),
        point_bound_mm: ErrorBudget::from_manifest(model.manifest.as_ref(), model.level).point_mm,
    }
}

fn png_bytes(image: &image::RgbaImage) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("encoding PNG")?;
    Ok(bytes)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let align = alignment_method(args)?;
    if !(args.tolerance_mm >= 0.0 && args.tolerance_mm.is_finite()) {
        bail!(
            "--tolerance-mm {}: expected a length of 0 or more",
            args.tolerance_mm
        );
    }
    let view = parse::view(&args.view)?;
    let (width, height) = parse::size(&args.size, 16..=8192)?;
    let (a, a_sha, _) = load(&args.a)?;
    let (b, b_sha, _) = load(&args.b)?;
    let roi = region_of_interest(args.roi.as_deref())?;
    let options = CompareOptions {
        align,
        roi,
        scale: args.scale,
        tolerance_mm: args.tolerance_mm,
        ..CompareOptions::default()
    };
    let comparison = compare(&a, &b, &options).map_err(|reason| {
        anyhow::anyhow!(
            "cannot compare {} with {}: {reason}",
            args.a.display(),
            args.b.display()
        )
    })?;
    let compare_seconds = started.elapsed().as_secs_f64();
    let s = &comparison.statistics;
    let mut result = json!({
        "a": {"file": args.a, "sha256": a_sha, "vertices": a.positions.len(), "triangles": a.triangle_count()},
        "b": {"file": args.b, "sha256": b_sha, "vertices": b.positions.len(), "triangles": b.triangle_count()},
        "transform": comparison.alignment.transform,
        "mean_mm": s.mean_mm,
        "rms_mm": s.rms_mm,
        "p95_mm": s.p95_mm,
        "max_mm": s.max_mm,
        "within_tolerance": s.within_tolerance,
        "tolerance_mm": s.tolerance_mm,
        "roi": args.roi,
        "direction": comparison.direction,
        "alignment": comparison.alignment,
        "statistics": comparison.statistics,
        "compare_seconds": compare_seconds,
    });
    let colour = colour_difference(args, &a, &b, &comparison)?;
    if let Some(colour) = &colour {
        result["colour"] = json!(colour.statistics);
    }
    let heat = draw_maps(
        args,
        (&a, &b),
        &comparison,
        colour.as_ref(),
        (width, height),
        view,
    )?;
    if let (Some(path), Some((_, _, Some(png)))) = (&args.colour_png, &heat) {
        output::write_atomically(path, png)?;
        result["colour_png"] = json!(path);
    }
    if let (Some(path), Some((_, png, _))) = (&args.png, &heat) {
        output::write_atomically(path, png)?;
        result["png"] = json!(path);
    }
    let (fa, fb) = (facts(&args.a, &a, &a_sha), facts(&args.b, &b, &b_sha));
    // The report: what --json prints, with each model's error bound.
    let mut report = result.clone();
    report["a"]["point_bound_mm"] = json!(fa.point_bound_mm);
    report["b"]["point_bound_mm"] = json!(fb.point_bound_mm);
    if let (Some(path), Some((gpu, png, colour_png))) = (&args.report, &heat) {
        let six = |model: &SceneModel| -> anyhow::Result<Vec<Vec<u8>>> {
            let requests: Vec<RenderRequest> = StandardView::ALL[..6]
                .iter()
                .map(|&view| RenderRequest {
                    width: 360,
                    height: 270,
                    view,
                    ..RenderRequest::default()
                })
                .collect();
            render_all(gpu, model, &requests)?
                .iter()
                .map(|rendered| png_bytes(&rendered.image))
                .collect()
        };
        let (views_a, views_b) = (six(&a)?, six(&b)?);
        let created = utc_now();
        let page = html(&ReportPage {
            a: &fa,
            b: &fb,
            alignment: &comparison.alignment,
            statistics: s,
            heat_map_png: png,
            views_a: &views_a,
            views_b: &views_b,
            created,
            direction: comparison.direction,
            colour: colour
                .as_ref()
                .zip(colour_png.as_deref())
                .map(|(c, png)| (&c.statistics, png)),
        });
        let html_path = path.with_extension("html");
        result["report"] = json!(path);
        result["report_html"] = json!(html_path);
        output::write_atomically(&html_path, page.as_bytes())?;
        report["report"] = json!(path);
        report["report_html"] = json!(html_path);
        output::write_atomically(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    if let (Some(store), Some(case)) = (&args.store, &args.case) {
        let png = heat.as_ref().map(|(_, png, _)| png.as_slice());
        result["saved"] = save(store, case, args.token.as_deref(), &report, png)?;
    }
    result["seconds"] = json!(started.elapsed().as_secs_f64());
    if args.json {
        return output::print_json(&result);
    }
    let mut lines = summary(args, &a, &b, &comparison, result.get("saved"));
    if let Some(colour) = &colour {
        let c = &colour.statistics;
        lines.push(format!(
            "colour      ΔE00 mean {:.2}, 95 % within {:.2}, max {:.2}; {:.2} % of {} samples ({}) above {} ({} without a partner within {} mm)",
            c.mean_de, c.p95_de, c.max_de, c.share_above_tolerance * 100.0, c.count, c.sampled, c.tolerance_de, c.unmatched, c.max_distance_mm
        ));
        if let Some(path) = &args.colour_png {
            lines.push(format!("colour map  {}", path.display()));
        }
    }
    output::print_lines(&lines)
}

/// What `compare` says to a person.
fn summary(
    args: &Args,
    a: &SceneModel,
    b: &SceneModel,
    comparison: &viewer::compare::Comparison,
    saved: Option<&serde_json::Value>,
) -> Vec<String> {
    let s = &comparison.statistics;
    let al = &comparison.alignment;
    let mut lines = vec![
        format!(
            "A {} ({} vertices) against B {} ({} triangles)",
            args.a.display(),
            a.positions.len(),
            args.b.display(),
            b.triangle_count()
        ),
        format!(
            "alignment   {} ({}): rotation {:.3}°, translation {:.3} mm, RMS {:.4} mm",
            al.method, al.start, al.rotation_deg, al.translation_mm, al.rms_mm
        ),
        format!(
            "deviation   mean {:.4} mm, RMS {:.4} mm, 95 % within {:.4} mm, max {:.4} mm",
            s.mean_mm, s.rms_mm, s.p95_mm, s.max_mm
        ),
        format!(
            "tolerance   ±{} mm: {:.2} % of A's vertices within",
            s.tolerance_mm,
            s.within_tolerance * 100.0
        ),
    ];
    if s.invented_share > 0.0 {
        lines.push(format!(
            "filled in   {:.2} % of these deviations involve surface a reconstruction filled in: they measure \
             against a guess, not the object",
            s.invented_share * 100.0
        ));
    }
    if let Some(path) = &args.png {
        lines.push(format!("heat map    {}", path.display()));
    }
    if let Some(path) = &args.report {
        lines.push(format!(
            "report      {} and {}",
            path.display(),
            path.with_extension("html").display()
        ));
    }
    if let Some(saved) = saved {
        lines.push(format!(
            "saved       comparison {} in case {} at {} (share it: exhibit share --comparison {} --store …)",
            saved["id"],
            saved["case"],
            saved["url"].as_str().unwrap_or_default(),
            saved["id"]
        ));
    }
    lines
}

/// Send the report and heat map to the store; the store's record of it, with its address.
fn save(
    store: &str,
    case: &str,
    token: Option<&str>,
    report: &serde_json::Value,
    heat_map_png: Option<&[u8]>,
) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let base = store.trim_end_matches('/');
    let token = token.context("--store needs --token (or EXHIBIT_TOKEN)")?;
    let body = json!({
        "report": report,
        "heat_map_png": heat_map_png.map(|png| base64::engine::general_purpose::STANDARD.encode(png)),
    });
    let client = crate::client::Store::new(base, token)?;
    let case = client.case_id(case)?;
    let answer: serde_json::Value = client.post(
        &format!("/api/cases/{case}/comparisons"),
        &body,
        "saving the comparison",
    )?;
    let id = &answer["id"];
    Ok(json!({
        "id": id,
        "case": case,
        "url": format!("{base}/api/comparisons/{id}"),
        "report_sha256": answer["report_sha256"],
        "heat_map_sha256": answer["heat_map_sha256"],
        "checkpoint": answer["checkpoint"],
    }))
}

/// The current time in UTC as `YYYY-MM-DD HH:MM:SS` (civil calendar from the Unix clock).
fn utc_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
