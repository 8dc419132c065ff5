//! Rendering without a window: a model in, a PNG out (`exhibit render`), and the frame timings the
//! benchmarks quote.

use std::path::Path;
use std::time::Instant;

use glam::{DMat4, DVec3, DVec4};
use image::{Rgba, RgbaImage};
use serde::Serialize;

use crate::ViewerError;
use crate::camera::{Camera, Projection, StandardView};
use crate::gpu::Gpu;
use crate::measure::{Measurement, Section};
use crate::overlay::{ScaleBar, draw_scale_bar, draw_text, scale_bar_for, text_width};
use crate::render::{DrawItem, GpuModel, LineVertex, Renderer, Style};
use crate::scene::SceneModel;

/// Read a model file (GLB or glTF) at one level of detail (0: the model; larger: coarser; past the coarsest
/// reads the coarsest).
pub fn load_model(path: &Path, level: usize) -> Result<SceneModel, ViewerError> {
    let bytes = fs_err::read(path).map_err(|source| ViewerError::Io {
        source,
        path: path.to_path_buf(),
    })?;
    load_model_bytes(&bytes, path, level)
}

/// Like [`load_model`], from bytes already read (`path` names them in errors and finds external buffers).
pub fn load_model_bytes(
    bytes: &[u8],
    path: &Path,
    level: usize,
) -> Result<SceneModel, ViewerError> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let model =
        codec::read_model_level_bytes(bytes, Some(&base), level).map_err(|e| e.with_path(path))?;
    Ok(SceneModel::from_model(model))
}

/// Load a self-contained GLB from bytes (a level of detail, 0 for the model): a buffer or image it names by
/// URI is refused, never read, so a file from elsewhere (an upload to a server) cannot make the renderer read
/// files beside it.
pub fn load_contained_glb(bytes: &[u8], level: usize) -> Result<SceneModel, ViewerError> {
    let model = codec::read_model_level_bytes(bytes, None, level)
        .map_err(|e| e.with_path(Path::new("(uploaded model)")))?;
    Ok(SceneModel::from_model(model))
}

/// What to draw and how.
#[derive(Clone, Debug)]
pub struct RenderRequest {
    /// Picture width, pixels.
    pub width: u32,
    /// Picture height, pixels.
    pub height: u32,
    /// Which standard view; the camera is fitted to the model.
    pub view: StandardView,
    /// Orthographic or perspective.
    pub projection: Projection,
    /// A camera to use instead of the fitted one.
    pub camera: Option<Camera>,
    /// Shading switches.
    pub style: Style,
    /// Draw a scale bar (orthographic only: elsewhere no single scale holds).
    pub scale_bar: bool,
    /// How edges are smoothed.
    pub antialias: crate::render::Antialias,
    /// Frames to draw (the last one is kept); more than one times the steady frame for benchmarks.
    pub frames: usize,
    /// Measurements to draw with their labels.
    pub measurements: Vec<Measurement>,
    /// Draw the outline where each clipping plane cuts the model.
    pub section_outlines: bool,
}

impl Default for RenderRequest {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            view: StandardView::Iso,
            projection: Projection::Orthographic,
            camera: None,
            style: Style::default(),
            scale_bar: false,
            antialias: crate::render::Antialias::Fxaa,
            frames: 1,
            measurements: Vec::new(),
            section_outlines: true,
        }
    }
}

/// A finished picture and how it was made.
#[derive(Debug)]
pub struct Rendered {
    /// The picture.
    pub image: RgbaImage,
    /// The camera used.
    pub camera: Camera,
    /// The scale bar drawn, if any.
    pub scale_bar: Option<ScaleBar>,
    /// Each frame's time, seconds (submit to finished on the GPU), the first one included.
    pub frame_seconds: Vec<f64>,
    /// Time to upload the model, seconds.
    pub upload_seconds: f64,
    /// Cross-sections drawn, one per clipping plane.
    pub sections: Vec<Section>,
}

/// Serializable summary of [`Rendered`] for `--json`.
#[derive(Debug, Serialize)]
pub struct FrameTimes {
    /// The first frame, which includes compiling the pipelines on a CPU device, milliseconds.
    pub first_ms: f64,
    /// The median of the others (the steady frame), milliseconds; the first when there is only one.
    pub median_ms: f64,
    /// Frames drawn.
    pub frames: usize,
}

impl Rendered {
    /// First and median frame times.
    #[must_use]
    pub fn frame_times(&self) -> FrameTimes {
        let first = self.frame_seconds.first().copied().unwrap_or(0.0);
        let mut rest: Vec<f64> = self.frame_seconds.iter().skip(1).copied().collect();
        rest.sort_by(f64::total_cmp);
        let median = if rest.is_empty() {
            first
        } else {
            rest[rest.len() / 2]
        };
        FrameTimes {
            first_ms: first * 1e3,
            median_ms: median * 1e3,
            frames: self.frame_seconds.len(),
        }
    }
}

/// Colours of the overlay marks (linear RGBA).
const MEASURE_COLOR: [f32; 4] = [1.0, 0.85, 0.05, 1.0];
const SECTION_COLOR: [f32; 4] = [0.05, 0.85, 1.0, 1.0];

/// Overlay lines for measurements: the segments and a small cross at every picked point.
#[must_use]
pub fn measurement_lines(measurements: &[Measurement], marker_m: f64) -> Vec<LineVertex> {
    measurements
        .iter()
        .flat_map(|m| marker_lines(m.points(), marker_m, matches!(m, Measurement::Area { .. })))
        .collect()
}

/// Overlay lines through `points` (closed back to the first when `closed` and there are more than two) and a
/// cross of half-size `marker_m` at each of them.
#[must_use]
pub fn marker_lines(points: &[[f64; 3]], marker_m: f64, closed: bool) -> Vec<LineVertex> {
    let mut lines = Vec::new();
    let mut segment = |a: [f64; 3], b: [f64; 3]| {
        for p in [a, b] {
            lines.push(LineVertex {
                position: p.map(|x| x as f32),
                color: MEASURE_COLOR,
            });
        }
    };
    for pair in points.windows(2) {
        segment(pair[0], pair[1]);
    }
    if closed && points.len() > 2 {
        segment(points[points.len() - 1], points[0]);
    }
    for p in points {
        for axis in 0..3 {
            let (mut a, mut b) = (*p, *p);
            a[axis] -= marker_m;
            b[axis] += marker_m;
            segment(a, b);
        }
    }
    lines
}

/// Overlay lines for cross-section outlines.
#[must_use]
pub fn section_lines(sections: &[Section]) -> Vec<LineVertex> {
    sections
        .iter()
        .flat_map(|s| &s.segments)
        .flat_map(|[a, b]| {
            [a, b].map(|p| LineVertex {
                position: p.map(|x| x as f32),
                color: SECTION_COLOR,
            })
        })
        .collect()
}

/// Where a model-frame point lands on the picture, in pixels from the top left (None behind the camera).
#[must_use]
pub fn project(
    camera: &Camera,
    aspect: f64,
    width: u32,
    height: u32,
    p: [f64; 3],
) -> Option<(f64, f64)> {
    let clip = camera.matrices(aspect).clip_from_model() * DVec4::from((DVec3::from(p), 1.0));
    (clip.w > 0.0).then(|| {
        let ndc = clip.truncate() / clip.w;
        (
            (ndc.x + 1.0) * 0.5 * f64::from(width),
            (1.0 - ndc.y) * 0.5 * f64::from(height),
        )
    })
}

/// Render `model` as `request` says.
pub fn render(
    gpu: &Gpu,
    model: &SceneModel,
    request: &RenderRequest,
) -> Result<Rendered, ViewerError> {
    let mut rendered = render_all(gpu, model, std::slice::from_ref(request))?;
    Ok(rendered.remove(0))
}

/// Render `model` once per request (several views of one model, for a report): the pipelines are built and the
/// model uploaded once per anti-aliasing mode, not once per picture.
///
/// Every wgpu error on the way (a picture larger than the device allows, out of memory, a lost device) is an
/// `Err` naming what failed, never a panic.
pub fn render_all(
    gpu: &Gpu,
    model: &SceneModel,
    requests: &[RenderRequest],
) -> Result<Vec<Rendered>, ViewerError> {
    gpu.scoped("drawing the model", || {
        render_all_unscoped(gpu, model, requests)
    })
}

fn render_all_unscoped(
    gpu: &Gpu,
    model: &SceneModel,
    requests: &[RenderRequest],
) -> Result<Vec<Rendered>, ViewerError> {
    if model.positions.is_empty() {
        return Err(ViewerError::Invalid("the model has nothing to draw".into()));
    }
    let mut prepared: Option<(crate::render::Antialias, Renderer, GpuModel, f64)> = None;
    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        if prepared
            .as_ref()
            .is_none_or(|(antialias, ..)| *antialias != request.antialias)
        {
            let renderer = Renderer::new(
                &gpu.device,
                wgpu::TextureFormat::Rgba8UnormSrgb,
                request.antialias,
                gpu.capabilities,
            );
            let started = Instant::now();
            let gpu_model = renderer.upload(&gpu.device, &gpu.queue, model);
            gpu.wait()?;
            prepared = Some((
                request.antialias,
                renderer,
                gpu_model,
                started.elapsed().as_secs_f64(),
            ));
        }
        let Some((_, renderer, gpu_model, upload_seconds)) = &prepared else {
            unreachable!("prepared just above")
        };
        out.push(render_with(
            gpu,
            renderer,
            gpu_model,
            *upload_seconds,
            model,
            request,
        )?);
    }
    Ok(out)
}

fn render_with(
    gpu: &Gpu,
    renderer: &Renderer,
    gpu_model: &GpuModel,
    upload_seconds: f64,
    model: &SceneModel,
    request: &RenderRequest,
) -> Result<Rendered, ViewerError> {
    // The largest picture is the device's own limit (8192 to 16384 pixels a side), which wgpu checks.
    if request.width == 0 || request.height == 0 {
        return Err(ViewerError::Invalid(format!(
            "picture size {}x{} is empty",
            request.width, request.height
        )));
    }
    let aspect = f64::from(request.width) / f64::from(request.height);
    let camera = request.camera.unwrap_or_else(|| {
        Camera::fitted(request.view, request.projection, &model.positions, aspect)
    });
    if request.style.wireframe {
        renderer.prepare_wireframe(&gpu.device, gpu_model, model);
    }
    let targets = renderer.targets(&gpu.device, request.width, request.height);
    let sections: Vec<Section> = if request.section_outlines && !model.is_points() {
        request
            .style
            .clip_planes
            .iter()
            .map(|&plane| crate::measure::section(&model.positions, &model.indices, plane))
            .collect()
    } else {
        Vec::new()
    };
    let mut lines = section_lines(&sections);
    lines.extend(measurement_lines(
        &request.measurements,
        camera.scene_radius * 0.012,
    ));
    let overlay = Renderer::overlay_buffer(&gpu.device, &lines);
    let matrices = camera.matrices(aspect);
    let items = [DrawItem {
        model: gpu_model,
        scene_from_model: DMat4::IDENTITY,
        color: None,
    }];
    let mut frame_seconds = Vec::with_capacity(request.frames.max(1));
    for _ in 0..request.frames.max(1) {
        let started = Instant::now();
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        renderer.draw(
            &gpu.queue,
            &mut encoder,
            &targets,
            &items,
            &matrices,
            &request.style,
            overlay.as_ref().map(|(b, n)| (b, *n)),
        );
        gpu.queue.submit([encoder.finish()]);
        gpu.wait()?;
        frame_seconds.push(started.elapsed().as_secs_f64());
    }
    let mut image = gpu.read_rgba8(&targets.color)?;
    // Labels beside the measurements, in the built-in font.
    for measurement in &request.measurements {
        let centre = measurement.label_anchor();
        if let Some((x, y)) = project(&camera, aspect, request.width, request.height, centre) {
            let label = measurement.label();
            let scale = if request.height >= 600 { 2 } else { 1 };
            let width = i64::from(text_width(&label, scale));
            let (x, y) = (x as i64 + 8, y as i64 - 8 * i64::from(scale));
            crate::overlay::fill(
                &mut image,
                x - 3,
                y - 3,
                width + 6,
                7 * i64::from(scale) + 6,
                Rgba([0, 0, 0, 255]),
            );
            draw_text(&mut image, x, y, &label, scale, Rgba([255, 217, 15, 255]));
        }
    }
    let scale_bar = (request.scale_bar && camera.projection == Projection::Orthographic)
        .then(|| scale_bar_for(camera.metres_per_pixel(request.height), request.width))
        .flatten();
    if let Some(bar) = &scale_bar {
        draw_scale_bar(&mut image, bar);
    }
    Ok(Rendered {
        image,
        camera,
        scale_bar,
        frame_seconds,
        upload_seconds,
        sections,
    })
}

/// Write a picture as PNG, atomically (temporary file, then rename).
pub fn save_png(image: &RgbaImage, path: &Path) -> Result<(), ViewerError> {
    let io = |source: std::io::Error| ViewerError::Io {
        source,
        path: path.to_path_buf(),
    };
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| ViewerError::Invalid(format!("encoding PNG: {e}")))?;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = folder.join(format!(
        ".{}.tmp",
        path.file_name()
            .map_or_else(|| "render".into(), |n| n.to_string_lossy().into_owned())
    ));
    fs_err::write(&temporary, &bytes).map_err(io)?;
    fs_err::rename(&temporary, path).map_err(io)?;
    Ok(())
}
