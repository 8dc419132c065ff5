//! Textured evidence (printed packaging): a real textured scan (the YCB cracker box: OBJ + MTL + 4096² JPEG)
//! keeps its print from OBJ to GLB to picture, every image step measured and recorded; a changed print lights up
//! in the colour-difference map; hostile texture references are refused and named.

use std::path::{Path, PathBuf};

use viewer::appearance::{ColourOptions, compare_colour};
use viewer::camera::StandardView;
use viewer::compare::{Align, CompareOptions, compare};
use viewer::gpu::Gpu;
use viewer::headless::{RenderRequest, load_model, render};
use viewer::render::Style;

use crate::golden::assert_matches_golden_on;
use crate::support::{assert_valid_gltf, data, exhibit, run, run_json, sha256_file};

fn cracker_box() -> PathBuf {
    data("textured/ycb_003_cracker_box/textured.obj")
}

/// The box's folder copied to `to` (so a test can change or break one of its files).
pub(crate) fn copy_box(to: &Path) -> PathBuf {
    let from = data("textured/ycb_003_cracker_box");
    fs_err::create_dir_all(to).unwrap();
    for name in ["textured.obj", "textured.mtl", "texture_map.jpg"] {
        fs_err::copy(from.join(name), to.join(name)).unwrap();
    }
    to.join("textured.obj")
}

/// Pixels of the cracker box's red print (dark saturated red) in a picture.
pub(crate) fn printed_red(image: &image::RgbaImage) -> usize {
    image
        .pixels()
        .filter(|p| p.0[0] > 90 && p.0[1] < 40 && p.0[2] < 40)
        .count()
}

fn ingest(input: &Path, output: &Path) -> serde_json::Value {
    run_json(&mut exhibit(&[
        "ingest",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--json",
    ]))
}

#[test]
fn a_textured_scan_keeps_its_print_with_every_image_step_measured() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("box.glb");
    let report = ingest(&cracker_box(), &glb);
    assert_eq!(report["textures"], 1, "{report}");
    // Texture coordinates on a 16-bit grid: at most half a step, 4096 / 65535 / 2 texels, measured.
    let uv_error = report["max_uv_error_texels"].as_f64().unwrap();
    assert!(
        uv_error > 0.0 && uv_error <= 4096.0 / 65535.0 / 2.0 + 1e-9,
        "{uv_error}"
    );
    let manifest: codec::Manifest =
        serde_json::from_slice(&fs_err::read(dir.path().join("box.manifest.json")).unwrap())
            .unwrap();

    // The material file and the image are raw inputs of their own, hashed, naming the scan that uses them.
    let source_sha = sha256_file(&data("textured/ycb_003_cracker_box/texture_map.jpg"));
    let names: Vec<(&str, Option<&str>)> = manifest
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.used_by.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("textured.obj", None),
            ("textured.mtl", Some("textured.obj")),
            ("texture_map.jpg", Some("textured.obj")),
        ]
    );
    assert_eq!(manifest.inputs[2].sha256, source_sha);
    assert!(
        manifest
            .geometry
            .attributes
            .contains(&"TEXCOORD_0".to_owned())
    );

    // Level 0 carries the scanner's JPEG byte for byte; each coarser level a smaller image whose loss against
    // the source pixels is measured and recorded.
    let level0 = &manifest.textures[0];
    assert_eq!((level0.level, level0.width, level0.height), (0, 4096, 4096));
    assert_eq!(level0.sha256, source_sha);
    assert!(level0.origin.loss.lossless);
    let model = codec::read_model(&glb).unwrap();
    let texturing = model.mesh.texturing.as_ref().unwrap();
    assert_eq!(
        &texturing.images[0].bytes[..],
        &fs_err::read(data("textured/ycb_003_cracker_box/texture_map.jpg")).unwrap()[..]
    );
    let coarser: Vec<_> = manifest.textures.iter().filter(|t| t.level > 0).collect();
    assert_eq!(
        coarser.len(),
        manifest.levels.len(),
        "one image per coarser level"
    );
    for t in coarser {
        assert_eq!(t.origin.source_sha256, source_sha);
        assert_eq!(t.width, 4096 >> t.level);
        let loss = &t.origin.loss;
        assert!(!loss.lossless && loss.source_size == [4096, 4096]);
        assert!(loss.ssim > 0.9 && loss.ssim < 1.0, "{loss:?}");
        assert!(
            loss.psnr_db.iter().all(|p| p.is_some_and(|db| db > 25.0)),
            "{loss:?}"
        );
        // The recorded image is the one in the file.
        let level =
            codec::read_model_level_bytes(&fs_err::read(&glb).unwrap(), None, t.level as usize)
                .unwrap();
        let image = &level.mesh.texturing.unwrap().images[0];
        assert_eq!(codec::manifest::sha256_hex(&image.bytes), t.sha256);
        assert_eq!((image.width, image.height), (t.width, t.height));
    }

    // Each coarser image's format was chosen by measurement: JPEG and WebP each at the lowest quality that keeps
    // the SSIM floor, the smaller kept, and the record says which and over what.
    for t in manifest.textures.iter().filter(|t| t.level > 0) {
        let transform = &t.origin.transform;
        assert!(transform.contains("chosen over"), "{transform}");
        let kept = if t.mime_type == "image/webp" {
            "WebP"
        } else {
            "JPEG"
        };
        assert!(
            transform.contains(&format!("{kept} quality")),
            "{transform}"
        );
    }
    // A WebP image of a coarser level falls back on the model's own image for readers without WebP, so the
    // file never requires the extension for the scanner's JPEG.
    let document = glb_json(&fs_err::read(&glb).unwrap());
    let webp_textures: Vec<&serde_json::Value> = document["textures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["extensions"]["EXT_texture_webp"].is_object())
        .collect();
    assert_eq!(
        webp_textures.len(),
        manifest
            .textures
            .iter()
            .filter(|t| t.mime_type == "image/webp")
            .count()
    );
    for texture in &webp_textures {
        assert_eq!(texture["source"], 0, "falls back on the scanner's JPEG");
    }
    let required = document["extensionsRequired"].as_array().unwrap();
    assert!(!required.contains(&serde_json::json!("EXT_texture_webp")));
    if !webp_textures.is_empty() {
        let used = document["extensionsUsed"].as_array().unwrap();
        assert!(used.contains(&serde_json::json!("EXT_texture_webp")));
    }

    // Standard glTF: the Khronos validator finds nothing wrong, compressed or decoded.
    assert_valid_gltf(&[&glb]);
    // Same inputs, same bytes.
    let again = dir.path().join("again.glb");
    ingest(&cracker_box(), &again);
    assert_eq!(sha256_file(&glb), sha256_file(&again));
    // `info` reports the textures and their measured cost.
    let info = run_json(&mut exhibit(&["info", glb.to_str().unwrap(), "--json"]));
    assert_eq!(info["textures"], 1);
    assert_eq!(
        info["manifest"]["textures"].as_array().unwrap().len(),
        manifest.textures.len()
    );
    // And re-deriving from the sealed files (scan, material file, image) gives the same model.
    let verified = run_json(&mut exhibit(&[
        "verify",
        glb.to_str().unwrap(),
        "--rederive",
        data("textured/ycb_003_cracker_box/textured.obj")
            .to_str()
            .unwrap(),
        data("textured/ycb_003_cracker_box/textured.mtl")
            .to_str()
            .unwrap(),
        data("textured/ycb_003_cracker_box/texture_map.jpg")
            .to_str()
            .unwrap(),
        "--json",
    ]));
    assert_eq!(verified["ok"], true, "{verified}");
}

#[test]
fn golden_textured_box_front_and_iso() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("box.glb");
    ingest(&cracker_box(), &glb);
    let model = load_model(&glb, 0).unwrap();
    let gpu = Gpu::headless().unwrap();
    for (name, view) in [
        ("cracker-box-front", StandardView::Front),
        ("cracker-box-iso", StandardView::Iso),
    ] {
        let request = RenderRequest {
            width: 320,
            height: 320,
            view,
            ..RenderRequest::default()
        };
        let image = render(&gpu, &model, &request).unwrap().image;
        assert_matches_golden_on(name, None, &image);
    }
    // A PNG atlas (the Google Scanned Objects frying pan): its image drawn as delivered.
    let pan = dir.path().join("pan.glb");
    ingest(
        &data("textured/gso_chefmate_8_frypan/chefmate_8_frypan.obj"),
        &pan,
    );
    let pan_model = load_model(&pan, 0).unwrap();
    let image = render(
        &gpu,
        &pan_model,
        &RenderRequest {
            width: 320,
            height: 320,
            view: StandardView::Top,
            ..RenderRequest::default()
        },
    )
    .unwrap()
    .image;
    assert_matches_golden_on("frypan-top", None, &image);
    // Without textures the same box is plain clay: the print came from the texture, not from anything else.
    let plain = render(
        &gpu,
        &model,
        &RenderRequest {
            width: 320,
            height: 320,
            view: StandardView::Front,
            style: Style {
                textures: false,
                ..Style::default()
            },
            ..RenderRequest::default()
        },
    )
    .unwrap()
    .image;
    let textured = render(
        &gpu,
        &model,
        &RenderRequest {
            width: 320,
            height: 320,
            view: StandardView::Front,
            ..RenderRequest::default()
        },
    )
    .unwrap()
    .image;
    assert!(
        printed_red(&textured) > 5_000,
        "the red print shows: {}",
        printed_red(&textured)
    );
    assert_eq!(printed_red(&plain), 0);
}

/// The box with a rectangle of its atlas repainted blue: same shape, different print.
pub(crate) fn repainted_box(dir: &Path) -> (PathBuf, [f32; 4]) {
    let obj = copy_box(&dir.join("repainted"));
    let image_path = obj.with_file_name("texture_map.jpg");
    let mut image = image::open(&image_path).unwrap().to_rgb8();
    let (w, h) = image.dimensions();
    // u from 0.1 to 0.45, v (glTF orientation, from the top row) from 0.1 to 0.35.
    let rect = [0.1f32, 0.1, 0.45, 0.35];
    for y in (rect[1] * h as f32) as u32..(rect[3] * h as f32) as u32 {
        for x in (rect[0] * w as f32) as u32..(rect[2] * w as f32) as u32 {
            image.put_pixel(x, y, image::Rgb([30, 60, 200]));
        }
    }
    image.save(&image_path).unwrap();
    (obj, rect)
}

#[test]
fn a_changed_print_lights_up_where_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (changed_obj, rect) = repainted_box(dir.path());
    let (original, changed) = (
        dir.path().join("original.glb"),
        dir.path().join("changed.glb"),
    );
    ingest(&cracker_box(), &original);
    ingest(&changed_obj, &changed);
    let a = load_model(&changed, 0).unwrap();
    let b = load_model(&original, 0).unwrap();
    let options = CompareOptions {
        align: Align::Icp,
        ..CompareOptions::default()
    };
    let geometry = compare(&a, &b, &options).unwrap();
    assert!(
        geometry.statistics.max_mm < 0.05,
        "same shape: {:?}",
        geometry.statistics
    );
    let colour = compare_colour(&a, &b, &geometry.b_aligned, &ColourOptions::default()).unwrap();
    let s = &colour.statistics;
    assert_eq!(s.sampled, "texels");
    assert!(s.count > 100_000 && s.unmatched == 0, "{s:?}");
    // Inside the repainted rectangle (a margin from its edges for filtering) the print differs; outside it,
    // nothing does.
    let inside = |uv: [f32; 2], margin: f32| {
        uv[0] > rect[0] + margin
            && uv[0] < rect[2] - margin
            && uv[1] > rect[1] + margin
            && uv[1] < rect[3] - margin
    };
    let (mut inside_hot, mut inside_all, mut outside_hot, mut outside_all) =
        (0u32, 0u32, 0u32, 0u32);
    for (uv, &de) in colour.uvs.iter().zip(&colour.delta_e) {
        let uv = uv.unwrap();
        let hot = f64::from(de) > s.tolerance_de;
        if inside(uv, 0.01) {
            inside_all += 1;
            inside_hot += u32::from(hot);
        } else if !inside(uv, -0.01) {
            outside_all += 1;
            outside_hot += u32::from(hot);
        }
    }
    assert!(
        inside_all > 1_000,
        "the rectangle covers surface: {inside_all}"
    );
    assert!(
        f64::from(inside_hot) > 0.95 * f64::from(inside_all),
        "{inside_hot} of {inside_all} inside"
    );
    assert!(
        f64::from(outside_hot) < 0.01 * f64::from(outside_all),
        "{outside_hot} of {outside_all} outside"
    );
    assert!(s.share_above_tolerance > 0.01 && s.max_de > 30.0, "{s:?}");

    // The same box against itself: no colour differs.
    let same = compare_colour(&b, &b, &b.positions, &ColourOptions::default()).unwrap();
    assert!(same.statistics.max_de < 1.0, "{:?}", same.statistics);

    // The command: JSON fields, the map and the report.
    let report = dir.path().join("report.json");
    let map = dir.path().join("colour.png");
    let result = run_json(&mut exhibit(&[
        "compare",
        changed.to_str().unwrap(),
        original.to_str().unwrap(),
        "--colour",
        "--colour-png",
        map.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--json",
    ]));
    for key in [
        "mean_de",
        "p95_de",
        "max_de",
        "tolerance_de",
        "share_above_tolerance",
    ] {
        assert!(result["colour"][key].is_number(), "{key}: {result}");
    }
    assert!(result["colour"]["share_above_tolerance"].as_f64().unwrap() > 0.01);
    let picture = image::open(&map).unwrap().to_rgba8();
    let red = picture
        .pixels()
        .filter(|p| p.0[0] > 140 && p.0[1] < 40 && p.0[2] < 60)
        .count();
    assert!(red > 500, "the changed print shows red in the map: {red}");
    let html = fs_err::read_to_string(report.with_extension("html")).unwrap();
    assert!(
        html.contains(r#"data-key="share_above_tolerance""#)
            && html.contains("colour difference map")
    );
}

#[test]
fn missing_escaping_and_oversized_textures_are_named_and_the_model_still_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 3] = [
        (
            "missing",
            "map_Kd no_such_file.jpg",
            "\"no_such_file.jpg\" was not found",
        ),
        (
            "escaping",
            "map_Kd ../../../../etc/passwd",
            "not a path inside the scan's folder: refused",
        ),
        ("bomb", "map_Kd bomb.png", "100000×100000"),
    ];
    for (name, map, expected) in cases {
        let obj = copy_box(&dir.path().join(name));
        fs_err::write(
            obj.with_file_name("textured.mtl"),
            format!("newmtl material_0\n{map}\n"),
        )
        .unwrap();
        // A PNG header declaring 100000 × 100000 texels: refused from its header, nothing decoded.
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bomb.extend(100_000u32.to_be_bytes());
        bomb.extend(100_000u32.to_be_bytes());
        bomb.extend([8, 6, 0, 0, 0]);
        bomb.extend(crc32(&bomb[12..]).to_be_bytes());
        fs_err::write(obj.with_file_name("bomb.png"), &bomb).unwrap();
        let glb = dir.path().join(format!("{name}.glb"));
        let report = ingest(&obj, &glb);
        let notes: Vec<&str> = report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let notes = notes.join("\n");
        assert!(notes.contains(expected), "{name}: {notes}");
        assert!(notes.contains("untextured"), "{name}: {notes}");
        assert_eq!(report["textures"], 0, "{name}");
        let manifest: codec::Manifest = serde_json::from_slice(
            &fs_err::read(dir.path().join(format!("{name}.manifest.json"))).unwrap(),
        )
        .unwrap();
        // Nothing outside the folder, and nothing unreadable, became an input.
        assert!(
            manifest
                .inputs
                .iter()
                .all(|i| i.name == "textured.obj" || i.name == "textured.mtl"),
            "{name}"
        );
    }
    // A link that leads out of the folder is refused too.
    #[cfg(unix)]
    {
        let obj = copy_box(&dir.path().join("link"));
        fs_err::remove_file(obj.with_file_name("texture_map.jpg")).unwrap();
        std::os::unix::fs::symlink(
            data("textured/ycb_003_cracker_box/texture_map.jpg"),
            obj.with_file_name("texture_map.jpg"),
        )
        .unwrap();
        let report = ingest(&obj, &dir.path().join("link.glb"));
        assert!(
            report["notes"]
                .to_string()
                .contains("leads out of the scan's folder"),
            "{report}"
        );
        assert_eq!(report["textures"], 0);
    }
    // An MTL that is not text is named with its problem, not a panic.
    let obj = copy_box(&dir.path().join("binary-mtl"));
    fs_err::write(obj.with_file_name("textured.mtl"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let output = run(&mut exhibit(&[
        "ingest",
        obj.to_str().unwrap(),
        "-o",
        dir.path().join("binary.glb").to_str().unwrap(),
    ]));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && said.contains("material file \"textured.mtl\": line 1"),
        "{said}"
    );
}

/// CRC-32 (PNG's) of a chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn ply_and_gltf_inputs_keep_their_textures() {
    let dir = tempfile::tempdir().unwrap();
    // A PLY square whose TextureFile comment names a picture: left half red, right half blue.
    let picture = image::RgbaImage::from_fn(64, 64, |x, _| {
        if x < 32 {
            image::Rgba([220, 20, 20, 255])
        } else {
            image::Rgba([20, 20, 220, 255])
        }
    });
    picture.save(dir.path().join("print.png")).unwrap();
    fs_err::write(
        dir.path().join("square.ply"),
        "ply\nformat ascii 1.0\ncomment TextureFile print.png\nelement vertex 4\nproperty float x\nproperty float y\n\
         property float z\nproperty float texture_u\nproperty float texture_v\nelement face 2\n\
         property list uchar int vertex_indices\nend_header\n0 0 0 0 0\n0.1 0 0 1 0\n0.1 0.1 0 1 1\n0 0.1 0 0 1\n\
         3 0 1 2\n3 0 2 3\n",
    )
    .unwrap();
    let glb = dir.path().join("square.glb");
    let report = ingest(&dir.path().join("square.ply"), &glb);
    assert_eq!(report["textures"], 1, "{report}");
    assert_valid_gltf(&[&glb]);
    let model = load_model(&glb, 0).unwrap();
    let image = render(
        &Gpu::headless().unwrap(),
        &model,
        &RenderRequest {
            width: 200,
            height: 200,
            view: StandardView::Front,
            ..RenderRequest::default()
        },
    )
    .unwrap()
    .image;
    // PLY's v runs up from the image's bottom row; the picture's left half is red, its right half blue.
    let (left, right) = (image.get_pixel(60, 100).0, image.get_pixel(140, 100).0);
    assert!(left[0] > 100 && left[2] < 60, "left {left:?}");
    assert!(right[2] > 100 && right[0] < 60, "right {right:?}");

    // A glTF input: the Khronos BoxTextured sample's PNG is kept, byte for byte, at level 0.
    let sample = data("gltf/khronos_samples/BoxTextured/BoxTextured.glb");
    let out = dir.path().join("box-textured.glb");
    let report = ingest(&sample, &out);
    assert_eq!(report["textures"], 1, "{report}");
    assert_valid_gltf(&[&out]);
    let source = codec::read_model(&sample).unwrap();
    let kept = codec::read_model(&out).unwrap();
    assert_eq!(
        source.mesh.texturing.unwrap().images[0].bytes,
        kept.mesh.texturing.unwrap().images[0].bytes
    );
}

#[test]
fn e57_images_are_listed_with_their_kind_size_pose_and_hash() {
    let info = run_json(&mut exhibit(&[
        "info",
        data("e57/tiny_pc_and_images.e57").to_str().unwrap(),
        "--json",
    ]));
    let images = info["read"]["images"]
        .as_array()
        .unwrap_or_else(|| panic!("{info}"));
    // The file (synthetic, cry-inc/e57) carries four: a JPEG visual reference, a posed spherical PNG, and a
    // pinhole and a cylindrical entry whose blobs are not images (named so, not guessed at).
    let kinds: Vec<&str> = images.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["visual reference", "spherical", "pinhole", "cylindrical"],
        "{info}"
    );
    for image in images {
        assert_eq!(image["sha256"].as_str().unwrap().len(), 64, "{image}");
        assert!(image["bytes"].as_u64().unwrap() > 0, "{image}");
    }
    assert_eq!(images[0]["mime_type"], "image/jpeg");
    assert_eq!(images[1]["mime_type"], "image/png");
    assert_eq!(images[1]["size"], serde_json::json!([100, 100]));
    assert_eq!(
        images[1]["pose"],
        serde_json::json!([1.0, 2.0, 3.0, 0.5, 1.0, 0.0, 0.0])
    );
    assert!(images[0]["pose"].is_null());
    assert!(
        images[2]["mime_type"]
            .as_str()
            .unwrap()
            .starts_with("unreadable"),
        "{info}"
    );
    let notes = info["notes"].to_string();
    assert!(
        notes.contains("images2D") && notes.contains("not used to colour"),
        "{notes}"
    );
}

/// The JSON chunk of a GLB.
fn glb_json(glb: &[u8]) -> serde_json::Value {
    let length = u32::from_le_bytes([glb[12], glb[13], glb[14], glb[15]]) as usize;
    serde_json::from_slice(&glb[20..20 + length]).unwrap()
}
