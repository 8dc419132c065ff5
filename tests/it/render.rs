//! The renderer on real models: golden images, measuring a cube of known size, and the `render` command.
//! Runs on whatever adapter wgpu finds: Mesa's lavapipe on machines without a GPU (`.ci/run` installs it).

use std::path::Path;

use viewer::camera::{Camera, Projection, StandardView};
use viewer::gpu::Gpu;
use viewer::headless::{RenderRequest, load_model, render};
use viewer::measure::{ErrorBudget, Measurement};
use viewer::render::Style;

use crate::golden::assert_matches_golden_on;
use crate::support::{data, exhibit, run, run_json};

fn small(view: StandardView, style: Style) -> RenderRequest {
    RenderRequest {
        width: 320,
        height: 240,
        view,
        style,
        ..RenderRequest::default()
    }
}

fn draw_on(gpu: &Gpu, path: &Path, request: &RenderRequest) -> image::RgbaImage {
    let model = load_model(path, 0).unwrap();
    render(gpu, &model, request).unwrap().image
}

/// The backends every golden image is drawn on: Vulkan (Mesa's lavapipe on a machine without a GPU) and GL
/// (Mesa's llvmpipe through EGL: what wgpu picks on a machine with Mesa's OpenGL and no Vulkan driver).
#[derive(Clone, Copy, Debug)]
enum Backend {
    Vulkan,
    Gl,
}

const BACKENDS: [Backend; 2] = [Backend::Vulkan, Backend::Gl];

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Vulkan => "vulkan",
            Backend::Gl => "gl",
        }
    }
}

fn gpu_on(backend: Backend) -> Gpu {
    let backends = match backend {
        Backend::Vulkan => viewer::wgpu::Backends::VULKAN,
        Backend::Gl => viewer::wgpu::Backends::GL,
    };
    let gpu = Gpu::headless_on(backends).unwrap_or_else(|e| {
        panic!(
            "a {} adapter (scripts/test installs Mesa: mesa-vulkan-drivers, libegl-mesa0, libgl1-mesa-dri): {e}",
            backend.name()
        )
    });
    let drawn_on = format!("{:?}", gpu.info.backend).to_lowercase();
    assert_eq!(drawn_on, backend.name(), "{}", gpu.adapter_description());
    gpu
}

/// Draw `path` with `request` on every backend and compare each picture with the one golden image.
fn golden_on_every_backend(name: &str, path: &Path, request: &RenderRequest) {
    for backend in BACKENDS {
        let image = draw_on(&gpu_on(backend), path, request);
        assert_matches_golden_on(name, Some(backend.name()), &image);
    }
}

#[test]
fn golden_bunny_front_and_iso() {
    let bunny = data("format-v1/bun_zipper_res4.glb");
    golden_on_every_backend(
        "bunny-front",
        &bunny,
        &small(StandardView::Front, Style::default()),
    );
    let flat_wire = Style {
        flat: true,
        wireframe: true,
        ..Style::default()
    };
    golden_on_every_backend(
        "bunny-iso-flat-wireframe",
        &bunny,
        &small(StandardView::Iso, flat_wire),
    );
    let xray = Style {
        xray: true,
        ..Style::default()
    };
    golden_on_every_backend("bunny-top-xray", &bunny, &small(StandardView::Top, xray));
}

#[test]
fn golden_khronos_samples() {
    let samples = data("gltf/khronos_samples");
    golden_on_every_backend(
        "box-vertex-colors-iso",
        &samples.join("BoxVertexColors/BoxVertexColors.glb"),
        &small(StandardView::Iso, Style::default()),
    );
    let matcap = Style {
        matcap: true,
        ..Style::default()
    };
    golden_on_every_backend(
        "duck-left-matcap",
        &samples.join("Duck/Duck.glb"),
        &small(StandardView::Left, matcap),
    );
    let mut engine = small(StandardView::Iso, Style::default());
    engine.projection = Projection::Perspective;
    golden_on_every_backend(
        "2cylinderengine-perspective",
        &samples.join("2CylinderEngine/2CylinderEngine.glb"),
        &engine,
    );
}

#[test]
fn golden_clipped_scan_with_its_section_and_scale_bar() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("tray.glb");
    let stl = data("stl/1002_tray_bottom.STL");
    run_json(
        exhibit(&[
            "ingest",
            stl.to_str().unwrap(),
            "-o",
            glb.to_str().unwrap(),
            "--unit",
            "mm",
            "--json",
        ])
        .current_dir(dir.path()),
    );
    let model = load_model(&glb, 0).unwrap();
    let (low, high) = model.bounds().unwrap();
    let middle = (f64::from(low[1]) + f64::from(high[1])) * 0.5;
    let style = Style {
        // Keep what is below the middle of the height.
        clip_planes: vec![[0.0, -1.0, 0.0, middle]],
        ..Style::default()
    };
    let mut request = small(StandardView::Iso, style);
    request.scale_bar = true;
    for backend in BACKENDS {
        let rendered = render(&gpu_on(backend), &model, &request).unwrap();
        assert_eq!(rendered.sections.len(), 1);
        assert!(rendered.sections[0].length_mm > 0.0);
        assert!(rendered.scale_bar.is_some());
        assert_matches_golden_on("tray-clipped-iso", Some(backend.name()), &rendered.image);
    }
}

/// A point cloud (a raw range scan kept as points): drawn in its own colour where it has no normals, without
/// outlines between the points.
#[test]
fn golden_point_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("scan.glb");
    let scan = data("stanford_bunny/bun000.ply");
    run_json(
        exhibit(&[
            "ingest",
            scan.to_str().unwrap(),
            "-o",
            glb.to_str().unwrap(),
            "--points",
            "--json",
        ])
        .current_dir(dir.path()),
    );
    let model = load_model(&glb, 0).unwrap();
    assert!(model.is_points());
    for backend in BACKENDS {
        let image = draw_on(
            &gpu_on(backend),
            &glb,
            &small(StandardView::Front, Style::default()),
        );
        // Not black: the points show in their colour.
        let lit = image.pixels().filter(|p| p.0[0] > 120).count();
        assert!(lit > 2000, "{lit} light pixels on {}", backend.name());
        assert_matches_golden_on("scan-points-front", Some(backend.name()), &image);
    }
}

/// A cube of 100 mm, encoded with its measured error, picked the way the viewer picks: through camera rays.
#[test]
fn a_100_mm_cube_measures_100_mm_within_its_stated_bound() {
    let half = 0.05f32;
    let positions: Vec<[f32; 3]> = (0..8)
        .map(|i| [0, 1, 2].map(|a| if (i >> a) & 1 == 1 { half } else { -half }))
        .collect();
    let faces = [
        [0, 2, 3, 1],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 6, 7, 3],
        [0, 4, 6, 2],
        [1, 3, 7, 5],
    ];
    let indices = faces
        .iter()
        .flat_map(|q| [q[0], q[1], q[2], q[0], q[2], q[3]])
        .collect();
    let mesh = codec::Mesh {
        origin_m: [1000.0, 20.0, 3.0],
        positions,
        indices,
        ..codec::Mesh::default()
    };
    let encoded = codec::encode_glb(
        &mesh,
        &codec::EncodeConfig { precision_m: 5e-5 },
        codec::Provenance::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cube.glb");
    std::fs::write(&path, &encoded.glb).unwrap();
    let model = load_model(&path, 0).unwrap();
    let budget = ErrorBudget::from_manifest(model.manifest.as_ref(), 0);
    let bound_point = budget.point_mm.unwrap();
    assert!(bound_point > 0.0 && bound_point <= 0.05, "{budget:?}");
    // Front face from the front view, back face from the back view, each at an off-centre pixel.
    let pick = |view: StandardView, x: f64, y: f64| {
        let camera = Camera::fitted(view, Projection::Orthographic, &model.positions, 4.0 / 3.0);
        let (origin, direction) = camera.ray(x, y, 4.0 / 3.0);
        model.pick(origin, direction).unwrap()
    };
    let front = pick(StandardView::Front, 0.4, 0.55);
    let back = pick(StandardView::Back, 0.6, 0.55);
    let along_z = Measurement::distance(front, [front[0], front[1], back[2]], budget.point_mm);
    let (mm, bound) = along_z.value_and_bound();
    assert!((mm - 100.0).abs() <= bound.unwrap(), "{}", along_z.label());
    assert!(along_z.label().ends_with(" mm") && along_z.label().contains(" ± "));
    // The angle between two faces, measured at a corner, is 90° within its bound.
    let corner = pick(StandardView::Front, 0.5, 0.5);
    let angle = Measurement::angle(
        [corner[0] + 0.04, corner[1], corner[2]],
        corner,
        [corner[0], corner[1], corner[2] - 0.04],
        budget.point_mm,
    );
    let (degrees, bound) = angle.value_and_bound();
    assert!(
        (degrees - 90.0).abs() <= bound.unwrap(),
        "{}",
        angle.label()
    );
}

#[test]
fn render_command_writes_a_png_and_reports_the_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bunny.png");
    let model = data("format-v1/bun_zipper_res4.glb");
    let json = run_json(&mut exhibit(&[
        "render",
        model.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
        "--size",
        "200x150",
        "--view",
        "front",
        "--scale-bar",
        "--measure-px",
        "60,80,140,80",
        "--json",
    ]));
    assert_eq!(json["width"], 200);
    assert_eq!(json["height"], 150);
    assert!(json["adapter"].as_str().unwrap().len() > 3, "{json}");
    assert!(json["seconds"].as_f64().unwrap() > 0.0);
    let label = json["measurements"][0]["label"].as_str().unwrap();
    assert!(label.contains(" ± ") && label.ends_with(" mm"), "{label}");
    let image = image::open(&png).unwrap();
    assert_eq!((image.width(), image.height()), (200, 150));
    // Bad requests are usage or input errors with a reason, never a panic.
    for (args, needle) in [
        (vec!["--size", "0x10"], "--size"),
        (vec!["--view", "sideways"], "--view"),
        (vec!["--clip", "0,0,0"], "zero"),
        (vec!["--measure-px", "0,0,1,1"], "no surface"),
    ] {
        let mut all = vec![
            "render",
            model.to_str().unwrap(),
            "-o",
            png.to_str().unwrap(),
        ];
        all.extend(args);
        let output = run(&mut exhibit(&all));
        assert_eq!(output.status.code(), Some(1), "{all:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
    }
    let missing = run(&mut exhibit(&[
        "render",
        "/nonexistent.glb",
        "-o",
        png.to_str().unwrap(),
    ]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nonexistent.glb"));
}

#[test]
fn view_refuses_what_it_cannot_open_before_opening_a_window() {
    let model = data("format-v1/bun_zipper_res4.glb");
    for (args, needle) in [
        (vec!["view", "/nonexistent/model.glb"], "no such file"),
        (
            vec![
                "view",
                model.to_str().unwrap(),
                model.to_str().unwrap(),
                model.to_str().unwrap(),
            ],
            "at most two",
        ),
        (
            vec!["view", model.to_str().unwrap(), "/nonexistent/b.glb"],
            "no such file",
        ),
        (
            vec!["view", "https://court.example/s/abc"],
            "download the model first",
        ),
        (
            vec!["view", model.to_str().unwrap(), "--lang", "fr"],
            "--lang",
        ),
        (vec!["view"], "name a model"),
    ] {
        let output = run(exhibit(&args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY"));
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// `exhibit` as on a machine with Mesa's OpenGL and no Vulkan driver: the Vulkan loader finds no driver, so
/// wgpu falls back to its GL backend (llvmpipe through EGL), as it did where issue 18 was found.
fn exhibit_without_vulkan(args: &[&str]) -> std::process::Command {
    let mut command = exhibit(args);
    command
        .env_remove("WGPU_BACKEND")
        .env("VK_ICD_FILENAMES", "/nonexistent/no-vulkan-driver.json")
        .env("VK_DRIVER_FILES", "/nonexistent/no-vulkan-driver.json");
    command
}

/// Issue 18: `exhibit render` panicked on wgpu's GL backend (view formats it lacks); now it draws there, and a
/// wgpu error (here a picture larger than the device allows) is an error message and exit 1, never a panic.
#[test]
fn regression_18_render_works_on_gl_without_vulkan_and_gpu_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bunny.png");
    let model = data("format-v1/bun_zipper_res4.glb");
    let model = model.to_str().unwrap();
    let json = run_json(&mut exhibit_without_vulkan(&[
        "render",
        model,
        "-o",
        png.to_str().unwrap(),
        "--size",
        "320x240",
        "--view",
        "front",
        "--aa",
        "msaa",
        "--json",
    ]));
    let adapter = json["adapter"].as_str().unwrap();
    assert!(adapter.contains("Gl"), "drawn on GL: {adapter}");
    let drawn = image::open(&png).unwrap().to_rgba8();
    // The same picture as the golden one lavapipe drew (same tolerance), MSAA or its FXAA fallback aside:
    // compare the FXAA picture instead.
    assert_eq!(drawn.dimensions(), (320, 240));
    let fxaa = dir.path().join("fxaa.png");
    run_json(&mut exhibit_without_vulkan(&[
        "render",
        model,
        "-o",
        fxaa.to_str().unwrap(),
        "--size",
        "320x240",
        "--view",
        "front",
        "--json",
    ]));
    assert_matches_golden_on(
        "bunny-front",
        Some("gl-cli"),
        &image::open(&fxaa).unwrap().to_rgba8(),
    );
    // A validation error, on each backend: exit 1 with a sentence naming what failed.
    for (backend, mut command) in [
        (
            "gl",
            exhibit_without_vulkan(&[
                "render",
                model,
                "-o",
                png.to_str().unwrap(),
                "--size",
                "40000x8",
            ]),
        ),
        (
            "vulkan",
            exhibit(&[
                "render",
                model,
                "-o",
                png.to_str().unwrap(),
                "--size",
                "40000x8",
            ]),
        ),
    ] {
        let output = run(&mut command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{backend}: {stderr}");
        assert!(
            stderr.contains("drawing the model failed on") && stderr.contains("40000"),
            "{backend}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{backend}: {stderr}");
    }
    // No adapter at all (a backend this system does not have): the message says what to install.
    let output =
        run(exhibit(&["render", model, "-o", png.to_str().unwrap()]).env("WGPU_BACKEND", "dx12"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no graphics adapter")
            && stderr.contains("apt-get install mesa-vulkan-drivers"),
        "{stderr}"
    );
}
