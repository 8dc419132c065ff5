//! `exhibit info`: what is in a model or scan file.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A model (.glb, .gltf) or a scan mesh (.ply, .obj).
    file: PathBuf,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let json = describe(&args.file)?;
    if args.json {
        return output::print_json(&json);
    }
    let mut lines = vec![
        format!("file        {}", args.file.display()),
        format!("format      {}", json["format"].as_str().unwrap_or("?")),
        format!("vertices    {}", json["vertices"]),
        format!("triangles   {}", json["triangles"]),
        format!("points      {}", json["points"]),
        format!(
            "bounds (m)  {} .. {}",
            json["bounds_min"], json["bounds_max"]
        ),
        format!("attributes  {}", json["attributes"]),
    ];
    if let Some(m) = json.get("manifest").filter(|m| !m.is_null()) {
        lines.push(format!(
            "precision   requested {} mm, measured max error {} mm",
            m["precision_mm"], m["max_error_mm"]
        ));
        lines.push(format!(
            "geometry    binary chunk matches the manifest's hash: {}",
            json["bin_sha256_matches"]
        ));
        for level in m["levels"].as_array().into_iter().flatten() {
            lines.push(format!(
                "level {}     {} triangles, within {} mm of the model (measured)",
                level["level"], level["triangles"], level["max_error_mm"]
            ));
        }
        if let Some(textures) = m["textures"].as_array() {
            let records: Vec<codec::manifest::TextureRecord> = textures
                .iter()
                .filter_map(|t| serde_json::from_value(t.clone()).ok())
                .collect();
            lines.extend(crate::commands::ingest::texture_lines(&records));
        }
    }
    for note in json["notes"].as_array().into_iter().flatten() {
        lines.push(format!("note        {}", note.as_str().unwrap_or_default()));
    }
    output::print_lines(&lines)
}

/// The `info` JSON object of a file.
pub fn describe(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let bytes_len = fs_err::metadata(path)?.len();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let is_gltf = matches!(extension.as_deref(), Some("glb" | "gltf"));
    if !is_gltf {
        let scan = ingest::read_scan(path, &ingest::ReadOptions::default())?;
        let (min, max) = scan.geometry.bounds_m().unwrap_or(([0.0; 3], [0.0; 3]));
        let (points, vertices, triangles) = match &scan.geometry {
            ingest::Geometry::Mesh(m) => (0, m.positions.len(), m.triangle_count()),
            ingest::Geometry::Points(p) => (p.positions.len(), 0, 0),
        };
        let metadata: serde_json::Map<String, serde_json::Value> = scan
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let textures = match &scan.geometry {
            ingest::Geometry::Mesh(m) => m.texturing.as_ref().map_or(0, |t| t.images.len()),
            ingest::Geometry::Points(_) => 0,
        };
        return Ok(json!({
            "format": scan.input.format,
            "textures": textures,
            "companions": scan.companions,
            "bytes": bytes_len,
            "sha256": scan.input.sha256,
            "points": points,
            "vertices": vertices,
            "triangles": triangles,
            "bounds_min": min,
            "bounds_max": max,
            "attributes": scan.geometry.attributes(),
            "unit": scan.input.unit,
            "metadata": metadata,
            "read": scan.step.result,
            "notes": scan.notes,
        }));
    }
    let model =
        codec::read_model(path).with_context(|| format!("cannot read {}", path.display()))?;
    let empty = ([0.0; 3], [0.0; 3]);
    let mesh_bounds = model.mesh.bounds_m();
    let point_bounds = model.points.bounds_m();
    let (min, max) = match (mesh_bounds, point_bounds) {
        (Some(a), Some(b)) => (
            [0, 1, 2].map(|i| a.0[i].min(b.0[i])),
            [0, 1, 2].map(|i| a.1[i].max(b.1[i])),
        ),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => empty,
    };
    let manifest = model.manifest.as_ref().map(|m| {
        json!({
            "format_version": m.format_version,
            "software": m.software,
            "precision_mm": m.error_bounds.precision_mm,
            "max_error_mm": m.error_bounds.max_position_error_mm,
            "max_normal_error_deg": m.error_bounds.max_normal_error_deg,
            "inputs": m.inputs,
            "origin_m": m.origin_m,
            "reconstructed_area_fraction": m.surface.reconstructed_area_fraction,
            "levels": m.levels,
            "textures": m.textures,
        })
    });
    let bytes = fs_err::read(path)?;
    Ok(json!({
        "format": model.format,
        "bytes": bytes_len,
        "sha256": codec::manifest::sha256_hex(&bytes),
        "points": model.points.positions.len(),
        "vertices": model.mesh.positions.len(),
        "triangles": model.mesh.triangle_count(),
        "bounds_min": min,
        "bounds_max": max,
        "attributes": model.attributes,
        "textures": model.mesh.texturing.as_ref().map_or(0, |t| t.images.len()),
        "levels": model.levels,
        "manifest": manifest,
        "bin_sha256_matches": model.bin_sha256_matches,
        "notes": model.notes,
    }))
}
