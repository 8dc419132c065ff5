//! `exhibit view`: the hearing-room app. A window with the model in the middle and a panel with its facts
//! (hashes, precision, measured error, confirmations) and the tools (views, display switches, distance,
//! angle, area, clipping plane, annotations, screenshot), in English or Chinese.
//!
//! The 3D view is drawn by the same [`Renderer`] as headless rendering, into an offscreen texture that egui
//! shows; it is redrawn only when something changed. The model loads on a worker thread: the coarsest level
//! of detail first, then the full model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use egui::{Color32, FontFamily, PointerButton, Pos2, Rect, RichText, Sense, Stroke, Vec2};
use glam::DMat4;
use serde::{Deserialize, Serialize};

use crate::ViewerError;
use crate::camera::{Camera, Projection, StandardView};
use crate::compare::{CompareOptions, Comparison, compare, statistics};
use crate::gpu::Gpu;
use crate::headless::{
    RenderRequest, load_model_bytes, marker_lines, measurement_lines, project, render, save_png,
    section_lines,
};
use crate::i18n::Lang;
use crate::measure::{ErrorBudget, Measurement, Section, section};
use crate::render::{DrawItem, GpuModel, Renderer, Style, Targets};
use crate::scene::SceneModel;

/// How to open the window.
#[derive(Clone, Debug)]
pub struct ViewOptions {
    /// The model file.
    pub path: PathBuf,
    /// A second model to compare with the first (B against A), shown beside it.
    pub compare_with: Option<PathBuf>,
    /// Interface language.
    pub lang: Lang,
    /// Window size in points.
    pub size: (f32, f32),
    /// Asks the court store for a share link to this model that opens at a camera (given as JSON): the
    /// binary passes it when `--store` is given, so the viewer never links an HTTP client.
    pub share: Option<ShareLink>,
}

/// A link made by the store, and its QR code (PNG).
#[derive(Clone, Debug)]
pub struct Shared {
    /// The link, with the camera in its fragment.
    pub url: String,
    /// Its QR code as PNG bytes.
    pub qr_png: Vec<u8>,
}

/// The function that makes a share link for a camera (JSON); see [`ViewOptions::share`].
#[derive(Clone)]
pub struct ShareLink(pub Arc<MakeLink>);

/// Makes a link for a camera given as JSON.
pub type MakeLink = dyn Fn(&str) -> Result<Shared, String> + Send + Sync;

impl std::fmt::Debug for ShareLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareLink")
    }
}

/// Fonts that can show the Chinese interface, in order of preference (Debian: fonts-wqy-microhei,
/// fonts-noto-cjk).
const CJK_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// Open the window and run until it is closed.
pub fn run(options: ViewOptions) -> Result<(), ViewerError> {
    let title = format!(
        "{} — {}",
        options.lang.t("title"),
        options
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    setup.device_descriptor = Arc::new(|adapter| wgpu::DeviceDescriptor {
        label: Some("exhibit view"),
        required_limits: wgpu::Limits {
            // Large models need large buffers; windows up to 8K.
            max_buffer_size: adapter.limits().max_buffer_size,
            max_texture_dimension_2d: 8192.min(adapter.limits().max_texture_dimension_2d),
            ..wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits())
        },
        ..Default::default()
    });
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([options.size.0, options.size.1])
            .with_title(title),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "exhibit",
        native,
        Box::new(move |cc| {
            install_fonts(&cc.egui_ctx);
            let state = cc
                .wgpu_render_state
                .clone()
                .ok_or("the window has no wgpu renderer")?;
            Ok(Box::new(ViewerApp::new(
                options,
                state,
                cc.egui_ctx.clone(),
            )))
        }),
    )
    .map_err(|e| ViewerError::Gpu(format!("the window failed: {e}")))?;
    match FATAL.lock().map(|mut fatal| fatal.take()) {
        Ok(Some(message)) => Err(ViewerError::Gpu(message)),
        _ => Ok(()),
    }
}

/// The wgpu error that closed the window, for [`run`] to return once the event loop has ended.
static FATAL: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn record_fatal(message: String) {
    if let Ok(mut fatal) = FATAL.lock() {
        fatal.get_or_insert(message);
    }
}

fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if let Some(bytes) = CJK_FONTS.iter().find_map(|p| fs_err::read(p).ok()) {
        fonts
            .font_data
            .insert("cjk".into(), Arc::new(egui::FontData::from_owned(bytes)));
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            fonts.families.entry(family).or_default().push("cjk".into());
        }
    }
    ctx.set_fonts(fonts);
}

/// What the loading thread sends.
enum Loaded {
    Hash(String),
    Level(Box<SceneModel>),
    Failed(String),
}

/// The measuring tool in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Navigate,
    Distance,
    Angle,
    Area,
    Annotate,
    /// Corresponding points, alternately on A (left pane) and B (right pane), for aligning by hand.
    Pair,
}

/// A note pinned to a surface point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// The point in the model's local frame, metres.
    pub point_m: [f64; 3],
    /// The same point in world coordinates (origin added), metres.
    pub world_m: [f64; 3],
    /// The note.
    pub text: String,
}

/// The annotations file saved beside a model (`MODEL.annotations.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotationFile {
    /// SHA-256 of the model file the points belong to.
    pub model_sha256: String,
    /// The notes.
    pub annotations: Vec<Annotation>,
}

/// The annotations file for a model.
#[must_use]
pub fn annotations_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().unwrap_or_default().to_os_string();
    name.push(".annotations.json");
    model.with_file_name(name)
}

struct Clip {
    on: bool,
    axis: usize,
    flip: bool,
    offset_mm: f64,
}

/// How two models share the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// One model.
    Single,
    /// Two panes, the same camera in both (unless synchronization is off).
    SideBySide,
    /// One view, A left of a divider and B right of it.
    Swipe,
    /// Both in one scene: A in warm clay, B see-through blue.
    Overlay,
    /// A coloured by its deviation from B.
    Heat,
    /// A coloured by its colour difference from B (CIEDE2000, from both textures).
    Colour,
    /// The six standard views of A and of B, as in design-patent drawings.
    SixViews,
}

/// One small pane of the six-view grid.
#[derive(Default)]
struct ViewPane {
    targets: Option<Targets>,
    texture: Option<egui::TextureId>,
}

/// The second model of a comparison and what was found about it.
struct Second {
    path: PathBuf,
    loader: Receiver<Loaded>,
    loading: bool,
    sha256: Option<String>,
    model: Option<Arc<SceneModel>>,
    gpu_model: Option<GpuModel>,
    targets: Option<Targets>,
    texture: Option<egui::TextureId>,
    /// B's own camera while the views are not synchronized.
    camera: Option<Camera>,
    /// B's local frame into A's: the origins' difference, then the alignment once it is found.
    placement: Option<DMat4>,
    comparison: Option<Arc<Comparison>>,
    compare_rx: Option<Receiver<Result<Comparison, String>>>,
    /// A coloured by its deviation.
    heat: Option<GpuModel>,
    /// A coloured by its colour difference, and the figures (made when the layout is first shown).
    colour: Option<(GpuModel, crate::appearance::ColourStatistics)>,
}

/// The colour difference's figures in one line: mean / 95th percentile / largest ΔE00, and the share above the
/// tolerance.
fn colour_summary(label: &str, c: &crate::appearance::ColourStatistics) -> String {
    format!(
        "{label}: {:.2} / {:.2} / {:.2}, {:.2} % > {}",
        c.mean_de,
        c.p95_de,
        c.max_de,
        c.share_above_tolerance * 100.0,
        c.tolerance_de
    )
}

/// Read a model on the rayon pool: the coarsest level of detail first, then the model.
fn spawn_loader(path: PathBuf, repaint: egui::Context) -> Receiver<Loaded> {
    let (sender, loader) = channel();
    // Off the UI thread; decoding itself runs in parallel on the same pool.
    rayon::spawn(move || {
        let send = |message| {
            let _ = sender.send(message);
            repaint.request_repaint();
        };
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => return send(Loaded::Failed(e.to_string())),
        };
        send(Loaded::Hash(codec::manifest::sha256_hex(&bytes)));
        // The coarsest level first, so that something is on screen while the full model decodes.
        match load_model_bytes(&bytes, &path, usize::MAX) {
            Ok(coarse) if coarse.levels > 1 => send(Loaded::Level(Box::new(coarse))),
            Ok(_) => {}
            Err(e) => return send(Loaded::Failed(e.to_string())),
        }
        match load_model_bytes(&bytes, &path, 0) {
            Ok(model) => send(Loaded::Level(Box::new(model))),
            Err(e) => send(Loaded::Failed(e.to_string())),
        }
    });
    loader
}

struct ViewerApp {
    /// Deviation statistics of the part the clipping plane keeps (comparisons only); kept up to date by
    /// `update_clip` and `recolor_heat`, not recomputed per frame.
    region_statistics: Option<crate::compare::Statistics>,
    /// The model SHA-256 the loaded annotations file names (checked against the model's once it is hashed).
    annotations_for: Option<String>,
    /// Picked corresponding points (world metres): on A, and on B.
    pairs: (Vec<[f64; 3]>, Vec<[f64; 3]>),
    /// The six-view grid: A's six views, then B's.
    six: Vec<ViewPane>,
    second: Option<Second>,
    layout: Layout,
    sync: bool,
    swipe: f32,
    tolerance_mm: f64,
    lang: Lang,
    path: PathBuf,
    ctx: egui::Context,
    state: egui_wgpu::RenderState,
    gpu: Gpu,
    renderer: Renderer,
    loader: Receiver<Loaded>,
    loading: bool,
    sha256: Option<String>,
    model: Option<Arc<SceneModel>>,
    gpu_model: Option<GpuModel>,
    targets: Option<Targets>,
    texture: Option<egui::TextureId>,
    camera: Option<Camera>,
    view: StandardView,
    projection: Projection,
    style: Style,
    tool: Tool,
    picks: Vec<[f64; 3]>,
    measurements: Vec<Measurement>,
    annotations: Vec<Annotation>,
    note: String,
    clip: Clip,
    sections: Vec<Section>,
    overlay: Option<(wgpu::Buffer, u32)>,
    budget: ErrorBudget,
    dirty: bool,
    drawn_level: Option<usize>,
    status: String,
    aspect: f64,
    share: Option<ShareLink>,
    /// A share link being made on another thread.
    share_rx: Option<Receiver<Result<Shared, String>>>,
    /// The last link made, and its QR code on the GPU.
    shared: Option<(String, egui::TextureHandle)>,
}

impl ViewerApp {
    fn new(options: ViewOptions, state: egui_wgpu::RenderState, ctx: egui::Context) -> Self {
        let loader = spawn_loader(options.path.clone(), ctx.clone());
        let second = options.compare_with.clone().map(|path| Second {
            loader: spawn_loader(path.clone(), ctx.clone()),
            path,
            loading: true,
            sha256: None,
            model: None,
            gpu_model: None,
            targets: None,
            texture: None,
            camera: None,
            placement: None,
            comparison: None,
            compare_rx: None,
            heat: None,
            colour: None,
        });
        // FXAA on a CPU adapter (lavapipe), where 4× multisampling would cost 4× the frame; MSAA on a GPU.
        let antialias = crate::render::Antialias::for_device(state.adapter.get_info().device_type);
        let capabilities = crate::render::Capabilities::of(&state.adapter);
        let renderer = Renderer::new(
            &state.device,
            wgpu::TextureFormat::Rgba8UnormSrgb,
            antialias,
            capabilities,
        );
        let gpu = Gpu::from_parts(
            state.device.clone(),
            state.queue.clone(),
            state.adapter.get_info(),
            capabilities,
        );
        let mut annotations = Vec::new();
        let mut annotations_for = None;
        let mut status = String::new();
        if let Ok(text) = fs_err::read_to_string(annotations_path(&options.path)) {
            match serde_json::from_str::<AnnotationFile>(&text) {
                Ok(file) => {
                    annotations = file.annotations;
                    annotations_for = Some(file.model_sha256);
                }
                Err(e) => status = format!("{}: {e}", annotations_path(&options.path).display()),
            }
        }
        Self {
            region_statistics: None,
            annotations_for,
            pairs: (Vec::new(), Vec::new()),
            six: (0..12).map(|_| ViewPane::default()).collect(),
            layout: if second.is_some() {
                Layout::SideBySide
            } else {
                Layout::Single
            },
            second,
            share: options.share,
            share_rx: None,
            shared: None,
            sync: true,
            swipe: 0.5,
            tolerance_mm: 0.5,
            lang: options.lang,
            path: options.path,
            ctx,
            state,
            gpu,
            renderer,
            loader,
            loading: true,
            sha256: None,
            model: None,
            gpu_model: None,
            targets: None,
            texture: None,
            camera: None,
            view: StandardView::Iso,
            projection: Projection::Orthographic,
            style: Style::default(),
            tool: Tool::Navigate,
            picks: Vec::new(),
            measurements: Vec::new(),
            annotations,
            note: String::new(),
            clip: Clip {
                on: false,
                axis: 2,
                flip: false,
                offset_mm: 0.0,
            },
            sections: Vec::new(),
            overlay: None,
            budget: ErrorBudget::from_manifest(None, 0),
            dirty: true,
            drawn_level: None,
            status,
            aspect: 1.0,
        }
    }

    fn receive(&mut self) {
        while let Ok(message) = self.loader.try_recv() {
            match message {
                Loaded::Hash(hash) => {
                    if let Some(kept) = self.annotations_hash_mismatch(&hash) {
                        self.status = kept;
                    }
                    self.sha256 = Some(hash);
                }
                Loaded::Failed(reason) => {
                    self.loading = false;
                    self.status = reason;
                }
                Loaded::Level(model) => {
                    let model: Arc<SceneModel> = Arc::from(model);
                    self.loading = model.level != 0;
                    self.budget = ErrorBudget::from_manifest(model.manifest.as_ref(), model.level);
                    let gpu_model =
                        self.renderer
                            .upload(&self.state.device, &self.state.queue, &model);
                    if self.camera.is_none() {
                        self.camera = Some(Camera::fitted(
                            self.view,
                            self.projection,
                            &model.positions,
                            self.aspect,
                        ));
                    }
                    self.gpu_model = Some(gpu_model);
                    self.model = Some(model);
                    self.update_clip();
                    self.dirty = true;
                }
            }
        }
    }

    /// The second model's messages, the comparison once both models are complete, and its result.
    fn receive_second(&mut self) {
        let Some(second) = &mut self.second else {
            return;
        };
        while let Ok(message) = second.loader.try_recv() {
            match message {
                Loaded::Hash(hash) => second.sha256 = Some(hash),
                Loaded::Failed(reason) => {
                    second.loading = false;
                    self.status = format!("{}: {reason}", second.path.display());
                }
                Loaded::Level(model) => {
                    let model: Arc<SceneModel> = Arc::from(model);
                    second.loading = model.level != 0;
                    second.gpu_model = Some(self.renderer.upload(
                        &self.state.device,
                        &self.state.queue,
                        &model,
                    ));
                    if second.placement.is_none() || second.comparison.is_none() {
                        // As the files place them until the alignment is known.
                        let a_origin = self.model.as_ref().map_or(model.origin_m, |a| a.origin_m);
                        let offset =
                            glam::DVec3::from(model.origin_m) - glam::DVec3::from(a_origin);
                        second.placement = Some(DMat4::from_translation(offset));
                    }
                    second.model = Some(model);
                    self.dirty = true;
                }
            }
        }
        let (Some(a), Some(b)) = (&self.model, &second.model) else {
            return;
        };
        if a.level == 0
            && b.level == 0
            && second.compare_rx.is_none()
            && second.comparison.is_none()
        {
            let (sender, receiver) = channel();
            let (a, b, repaint) = (Arc::clone(a), Arc::clone(b), self.ctx.clone());
            let options = CompareOptions {
                tolerance_mm: self.tolerance_mm,
                ..CompareOptions::default()
            };
            rayon::spawn(move || {
                let _ = sender.send(compare(&a, &b, &options));
                repaint.request_repaint();
            });
            second.compare_rx = Some(receiver);
        }
        if let Some(Ok(result)) = second.compare_rx.as_ref().map(Receiver::try_recv) {
            second.compare_rx = None;
            match result {
                Ok(comparison) => {
                    let origin_a = glam::DVec3::from(a.origin_m);
                    let world = DMat4::from_cols_array(&comparison.alignment.transform);
                    // World B → world A, seen from the local frames: p_a = world(p_b + o_b) − o_a.
                    let local = DMat4::from_translation(-origin_a)
                        * world
                        * DMat4::from_translation(glam::DVec3::from(b.origin_m));
                    second.placement = Some(local);
                    let s = &comparison.statistics;
                    eprintln!(
                        "exhibit view: compared: rotation {:.3}°, translation {:.3} mm, mean {:.4} mm, RMS {:.4} mm, max {:.4} mm, {:.1} % within ±{} mm",
                        comparison.alignment.rotation_deg,
                        comparison.alignment.translation_mm,
                        s.mean_mm,
                        s.rms_mm,
                        s.max_mm,
                        s.within_tolerance * 100.0,
                        s.tolerance_mm
                    );
                    second.comparison = Some(Arc::new(comparison));
                    second.colour = None;
                    self.recolor_heat();
                }
                Err(reason) => self.status = format!("comparison: {reason}"),
            }
            self.dirty = true;
        }
    }

    /// Colour A by its deviation at the current tolerance.
    fn recolor_heat(&mut self) {
        let (Some(a), Some(second)) = (&self.model, &mut self.second) else {
            return;
        };
        let Some(comparison) = &mut second.comparison else {
            return;
        };
        if comparison.direction != crate::compare::Direction::AVerticesToBSurface {
            return;
        }
        let stats = statistics(
            &comparison.deviation_mm,
            &comparison.invented,
            self.tolerance_mm,
        );
        let colors = comparison
            .deviation_mm
            .iter()
            .map(|&d| crate::heatmap::color(f64::from(d), stats.tolerance_mm, stats.range_mm))
            .collect();
        if let Some(comparison) = Arc::get_mut(comparison) {
            comparison.statistics = stats;
        }
        second.heat = Some(self.renderer.upload(
            &self.state.device,
            &self.state.queue,
            &a.recolored(colors),
        ));
        self.dirty = true;
        self.refresh_region_statistics();
    }

    /// Colour A by its colour difference from B (once per alignment, when the layout is first shown).
    fn recolor_colour(&mut self) {
        let (Some(a), Some(second)) = (&self.model, &mut self.second) else {
            return;
        };
        let (Some(b), Some(comparison)) = (&second.model, &second.comparison) else {
            return;
        };
        if second.colour.is_some() {
            return;
        }
        let options = crate::appearance::ColourOptions::default();
        match crate::appearance::compare_colour(a, b, &comparison.b_aligned, &options) {
            Ok(colour) => {
                let map = colour.map_on(a);
                let s = colour.statistics;
                eprintln!(
                    "exhibit view: colour difference: ΔE00 mean {:.2}, 95 % within {:.2}, max {:.2}; {:.2} % of {} samples ({}) above {}",
                    s.mean_de,
                    s.p95_de,
                    s.max_de,
                    s.share_above_tolerance * 100.0,
                    s.count,
                    s.sampled,
                    s.tolerance_de
                );
                let gpu = self
                    .renderer
                    .upload(&self.state.device, &self.state.queue, &map);
                second.colour = Some((gpu, s));
            }
            Err(reason) => self.status = format!("colour difference: {reason}"),
        }
        self.dirty = true;
    }

    /// Recompute the statistics of the region the clipping plane keeps.
    fn refresh_region_statistics(&mut self) {
        let comparison = self.second.as_ref().and_then(|s| s.comparison.as_ref());
        self.region_statistics = match (self.style.clip_planes.first(), &self.model, comparison) {
            (Some(plane), Some(a), Some(c))
                if c.direction == crate::compare::Direction::AVerticesToBSurface =>
            {
                let (kept, kept_invented): (Vec<f32>, Vec<bool>) = a
                    .positions
                    .iter()
                    .zip(c.deviation_mm.iter().zip(&c.invented))
                    .filter(|(p, _)| {
                        plane[0] * f64::from(p[0])
                            + plane[1] * f64::from(p[1])
                            + plane[2] * f64::from(p[2])
                            + plane[3]
                            >= 0.0
                    })
                    .map(|(_, (d, i))| (*d, *i))
                    .unzip();
                (!kept.is_empty())
                    .then(|| statistics(&kept, &kept_invented, c.statistics.tolerance_mm))
            }
            _ => None,
        };
    }

    fn annotations_hash_mismatch(&mut self, hash: &str) -> Option<String> {
        let named = self
            .annotations_for
            .as_deref()
            .filter(|named| *named != hash)?;
        let message = format!(
            "{} belongs to another model (SHA-256 {named}): not shown",
            annotations_path(&self.path).display()
        );
        self.annotations.clear();
        Some(message)
    }

    /// The clipping plane in the model frame, from the panel's axis and offset (through the model's centre).
    fn update_clip(&mut self) {
        self.style.clip_planes.clear();
        self.sections.clear();
        if let (true, Some(model)) = (self.clip.on, &self.model)
            && let Some((low, high)) = model.bounds()
        {
            let axis = self.clip.axis;
            let centre = (f64::from(low[axis]) + f64::from(high[axis])) * 0.5;
            let at = centre + self.clip.offset_mm * 1e-3;
            let sign = if self.clip.flip { 1.0 } else { -1.0 };
            let mut plane = [0.0; 4];
            plane[axis] = sign;
            plane[3] = -sign * at;
            self.style.clip_planes.push(plane);
            if !model.is_points() {
                self.sections
                    .push(section(&model.positions, &model.indices, plane));
            }
        }
        self.refresh_region_statistics();
        self.rebuild_overlay();
    }

    fn rebuild_overlay(&mut self) {
        let radius = self.camera.map_or(0.01, |c| c.scene_radius);
        let mut lines = section_lines(&self.sections);
        lines.extend(measurement_lines(&self.measurements, radius * 0.012));
        // Points picked so far for the next measurement, and the annotations' points, show as markers.
        lines.extend(marker_lines(&self.picks, radius * 0.012, true));
        for a in &self.annotations {
            lines.extend(marker_lines(&[a.point_m], radius * 0.02, false));
        }
        self.overlay = Renderer::overlay_buffer(&self.state.device, &lines);
        self.dirty = true;
    }

    fn pick(&self, at: Pos2, rect: Rect) -> Option<[f64; 3]> {
        let (model, camera) = (self.model.as_ref()?, self.camera.as_ref()?);
        if model.is_points() {
            return None;
        }
        let x = f64::from((at.x - rect.left()) / rect.width());
        let y = f64::from((at.y - rect.top()) / rect.height());
        let (origin, direction) = camera.ray(x, y, self.aspect);
        model.pick(origin, direction)
    }

    /// The surface point of B under the pointer in B's pane (B drawn where its placement puts it), in world
    /// metres.
    fn pick_b(&self, at: Pos2, rect: Rect) -> Option<[f64; 3]> {
        let second = self.second.as_ref()?;
        let (model, placement) = (second.model.as_ref()?, second.placement?);
        let camera = if self.sync {
            self.camera?
        } else {
            second.camera.or(self.camera)?
        };
        let x = f64::from((at.x - rect.left()) / rect.width());
        let y = f64::from((at.y - rect.top()) / rect.height());
        let (origin, direction) = camera.ray(x, y, self.aspect);
        // Into B's own frame, cast there, back to world coordinates.
        let inverse = placement.inverse();
        let origin = inverse.transform_point3(glam::DVec3::from(origin));
        let direction = inverse.transform_vector3(glam::DVec3::from(direction));
        let hit = model.pick(origin.to_array(), direction.to_array())?;
        Some([0, 1, 2].map(|i| hit[i] + model.origin_m[i]))
    }

    /// Align B onto A by the picked pairs (then ICP), in the background, as `exhibit compare --align pairs+icp`.
    fn align_by_pairs(&mut self) {
        let (Some(a), Some(second)) = (&self.model, &mut self.second) else {
            return;
        };
        let Some(b) = &second.model else { return };
        let (sender, receiver) = channel();
        let (a, b, repaint) = (Arc::clone(a), Arc::clone(b), self.ctx.clone());
        let options = CompareOptions {
            align: crate::compare::Align::Pairs {
                a: self.pairs.0.clone(),
                b: self.pairs.1.clone(),
                refine: true,
            },
            tolerance_mm: self.tolerance_mm,
            ..CompareOptions::default()
        };
        rayon::spawn(move || {
            let _ = sender.send(compare(&a, &b, &options));
            repaint.request_repaint();
        });
        second.comparison = None;
        second.compare_rx = Some(receiver);
        eprintln!(
            "exhibit view: aligning by {} picked pairs",
            self.pairs.0.len()
        );
    }

    fn on_pick(&mut self, point: [f64; 3]) {
        let bound = self.budget.point_mm;
        match self.tool {
            Tool::Navigate => {}
            Tool::Distance => {
                self.picks.push(point);
                if self.picks.len() == 2 {
                    let picks = std::mem::take(&mut self.picks);
                    self.add_measurement(Measurement::distance(picks[0], picks[1], bound));
                }
            }
            Tool::Angle => {
                self.picks.push(point);
                if self.picks.len() == 3 {
                    let picks = std::mem::take(&mut self.picks);
                    self.add_measurement(Measurement::angle(picks[0], picks[1], picks[2], bound));
                }
            }
            Tool::Area => self.picks.push(point),
            Tool::Pair => {
                // A's point in world metres; B's comes from its own pane (see `viewport`).
                let origin = self.model.as_ref().map_or([0.0; 3], |m| m.origin_m);
                if self.pairs.0.len() == self.pairs.1.len() {
                    self.pairs.0.push([0, 1, 2].map(|i| origin[i] + point[i]));
                }
            }
            Tool::Annotate => {
                let origin = self.model.as_ref().map_or([0.0; 3], |m| m.origin_m);
                let text = if self.note.trim().is_empty() {
                    format!("#{}", self.annotations.len() + 1)
                } else {
                    self.note.trim().to_string()
                };
                self.annotations.push(Annotation {
                    point_m: point,
                    world_m: [0, 1, 2].map(|i| origin[i] + point[i]),
                    text,
                });
            }
        }
        self.rebuild_overlay();
    }

    /// Make or resize a pane's textures and tell egui about them; whether they changed.
    fn ensure_targets(
        state: &egui_wgpu::RenderState,
        renderer: &Renderer,
        targets: &mut Option<Targets>,
        texture: &mut Option<egui::TextureId>,
        (width, height): (u32, u32),
    ) -> bool {
        if targets.as_ref().is_some_and(|t| t.size == (width, height)) {
            return false;
        }
        let made = renderer.targets_for_display(&state.device, width, height);
        let mut egui_renderer = state.renderer.write();
        match *texture {
            Some(id) => egui_renderer.update_egui_texture_from_wgpu_texture(
                &state.device,
                made.display_view(),
                wgpu::FilterMode::Linear,
                id,
            ),
            None => {
                *texture = Some(egui_renderer.register_native_texture(
                    &state.device,
                    made.display_view(),
                    wgpu::FilterMode::Linear,
                ));
            }
        }
        *targets = Some(made);
        true
    }

    /// Draw the six standard views of both models into the grid's panes (each fitted to its own model, in
    /// orthographic projection); `size` is one pane's size in pixels.
    fn draw_six_views(&mut self, size: (u32, u32)) {
        let mut changed = false;
        for pane in &mut self.six {
            changed |= Self::ensure_targets(
                &self.state,
                &self.renderer,
                &mut pane.targets,
                &mut pane.texture,
                size,
            );
        }
        if !(self.dirty || changed) {
            return;
        }
        let aspect = f64::from(size.0) / f64::from(size.1.max(1));
        let b = self
            .second
            .as_ref()
            .and_then(|s| s.model.clone().zip(s.gpu_model.as_ref()));
        let models = [self.model.clone().zip(self.gpu_model.as_ref()), b];
        let style = Style {
            clip_planes: Vec::new(),
            ..self.style.clone()
        };
        for (row, model) in models.iter().enumerate() {
            let Some((scene, gpu_model)) = model else {
                continue;
            };
            for (k, view) in StandardView::ALL[..6].iter().enumerate() {
                let Some(targets) = &self.six[row * 6 + k].targets else {
                    continue;
                };
                let camera =
                    Camera::fitted(*view, Projection::Orthographic, &scene.positions, aspect);
                // One submission per pane: the model's uniforms are written per draw, and a write takes effect
                // at the next submission.
                let mut encoder =
                    self.state
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("six views"),
                        });
                self.renderer.draw(
                    &self.state.queue,
                    &mut encoder,
                    targets,
                    &[DrawItem {
                        model: gpu_model,
                        scene_from_model: DMat4::IDENTITY,
                        color: None,
                    }],
                    &camera.matrices(aspect),
                    &style,
                    None,
                );
                self.state.queue.submit([encoder.finish()]);
            }
        }
        self.dirty = false;
    }

    /// Paint the six-view grid: A's views in the upper half, B's in the lower, three per row, captioned.
    fn paint_six_views(&mut self, ui: &egui::Ui, full: Rect) {
        let ppp = ui.ctx().pixels_per_point();
        let cell = Vec2::new(full.width() / 3.0, full.height() / 4.0);
        let size = (
            ((cell.x - 4.0) * ppp).round().max(1.0) as u32,
            ((cell.y - 18.0) * ppp).round().max(1.0) as u32,
        );
        self.draw_six_views(size);
        let painter = ui.painter_at(full);
        let uv_all = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        for (index, pane) in self.six.iter().enumerate() {
            let (model, k) = (index / 6, index % 6);
            let (column, row) = (k % 3, model * 2 + k / 3);
            let min = full.min + Vec2::new(column as f32 * cell.x, row as f32 * cell.y);
            let image =
                Rect::from_min_size(min + Vec2::new(2.0, 16.0), cell - Vec2::new(4.0, 18.0));
            if let Some(id) = pane.texture {
                painter.image(id, image, uv_all, Color32::WHITE);
            }
            let name = StandardView::ALL[k].name();
            painter.text(
                min + Vec2::new(4.0, 1.0),
                egui::Align2::LEFT_TOP,
                format!(
                    "{} · {}",
                    if model == 0 { "A" } else { "B" },
                    self.lang.t(name)
                ),
                egui::FontId::proportional(12.0),
                Color32::WHITE,
            );
        }
    }

    /// Whether the layout shows B in its own pane (side by side, swipe).
    fn second_pane(&self) -> bool {
        self.second.is_some() && matches!(self.layout, Layout::SideBySide | Layout::Swipe)
    }

    /// Draw the panes whose content changed; `size` is one pane's size in pixels.
    fn draw_scene(&mut self, size: (u32, u32)) {
        let mut changed = Self::ensure_targets(
            &self.state,
            &self.renderer,
            &mut self.targets,
            &mut self.texture,
            size,
        );
        if self.second_pane()
            && let Some(second) = &mut self.second
        {
            changed |= Self::ensure_targets(
                &self.state,
                &self.renderer,
                &mut second.targets,
                &mut second.texture,
                size,
            );
        }
        if !(self.dirty || changed) {
            return;
        }
        let (Some(targets), Some(gpu_model), Some(camera)) =
            (&self.targets, &self.gpu_model, &self.camera)
        else {
            return;
        };
        if self.style.wireframe
            && let Some(model) = &self.model
        {
            self.renderer
                .prepare_wireframe(&self.state.device, gpu_model, model);
        }
        let placement = self
            .second
            .as_ref()
            .and_then(|s| s.placement)
            .unwrap_or(DMat4::IDENTITY);
        let b_model = self.second.as_ref().and_then(|s| s.gpu_model.as_ref());
        let heat = self.second.as_ref().and_then(|s| s.heat.as_ref());
        let colour = self
            .second
            .as_ref()
            .and_then(|s| s.colour.as_ref())
            .map(|(gpu, _)| gpu);
        let a_item = |model| DrawItem {
            model,
            scene_from_model: DMat4::IDENTITY,
            color: None,
        };
        let mut items = match self.layout {
            Layout::Heat => vec![a_item(heat.unwrap_or(gpu_model))],
            Layout::Colour => vec![a_item(colour.unwrap_or(gpu_model))],
            // Warm clay A, see-through blue B: where B hides inside A it shows as a blue haze.
            Layout::Overlay => vec![DrawItem {
                color: Some([0.70, 0.52, 0.36, 1.0]),
                ..a_item(gpu_model)
            }],
            _ => vec![a_item(gpu_model)],
        };
        if let (Layout::Overlay, Some(b)) = (self.layout, b_model) {
            items.push(DrawItem {
                model: b,
                scene_from_model: placement,
                color: Some([0.15, 0.45, 0.95, 0.5]),
            });
        }
        let mut encoder =
            self.state
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("view"),
                });
        self.renderer.draw(
            &self.state.queue,
            &mut encoder,
            targets,
            &items,
            &camera.matrices(self.aspect),
            &self.style,
            self.overlay.as_ref().map(|(b, n)| (b, *n)),
        );
        if self.second_pane()
            && let Some(second) = &self.second
            && let (Some(targets), Some(b)) = (&second.targets, &second.gpu_model)
        {
            let camera_b = if self.sync {
                *camera
            } else {
                second.camera.unwrap_or(*camera)
            };
            self.renderer.draw(
                &self.state.queue,
                &mut encoder,
                targets,
                &[DrawItem {
                    model: b,
                    scene_from_model: placement,
                    color: None,
                }],
                &camera_b.matrices(self.aspect),
                &self.style,
                None,
            );
        }
        self.state.queue.submit([encoder.finish()]);
        self.dirty = false;
        if let Some(model) = &self.model
            && self.drawn_level != Some(model.level)
        {
            self.drawn_level = Some(model.level);
            // Tests under Xvfb wait for this line before taking a screenshot.
            eprintln!(
                "exhibit view: drew level {} of {} ({} triangles, {} vertices)",
                model.level,
                model.levels,
                model.triangle_count(),
                model.positions.len()
            );
        }
    }

    fn screenshot(&mut self) {
        let (Some(model), Some(camera), Some(targets)) = (&self.model, self.camera, &self.targets)
        else {
            return;
        };
        let (width, height) = targets.size;
        let request = RenderRequest {
            width,
            height,
            camera: Some(camera),
            style: self.style.clone(),
            scale_bar: true,
            measurements: self.measurements.clone(),
            ..RenderRequest::default()
        };
        let stem = self
            .path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let result = render(&self.gpu, model, &request).and_then(|rendered| {
            let mut n = 1;
            let out = loop {
                let candidate = self.path.with_file_name(format!("{stem}.view-{n}.png"));
                if !candidate.exists() {
                    break candidate;
                }
                n += 1;
            };
            save_png(&rendered.image, &out).map(|()| out)
        });
        self.status = match result {
            Ok(out) => {
                eprintln!("exhibit view: saved {}", out.display());
                format!("{} {}", self.lang.t("saved"), out.display())
            }
            Err(e) => e.to_string(),
        };
    }

    fn save_annotations(&mut self) {
        let Some(hash) = self.sha256.clone() else {
            return;
        };
        let file = AnnotationFile {
            model_sha256: hash,
            annotations: self.annotations.clone(),
        };
        let path = annotations_path(&self.path);
        // A temporary file renamed over the old one: a crash leaves the old notes or the new ones.
        let temporary = path.with_extension("json.partial");
        let result = serde_json::to_vec_pretty(&file)
            .map_err(std::io::Error::other)
            .and_then(|bytes| fs_err::write(&temporary, bytes))
            .and_then(|()| fs_err::rename(&temporary, &path));
        self.status = match result {
            Ok(()) => format!("{} {}", self.lang.t("saved"), path.display()),
            Err(e) => e.to_string(),
        };
    }

    /// The comparison: B's facts, the layout, synchronization, swipe, tolerance, alignment and statistics.
    fn comparison_panel(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let t = move |key| lang.t(key);
        ui.separator();
        ui.label(RichText::new(t("comparison")).strong());
        let before = (self.layout, self.sync, self.swipe);
        ui.horizontal_wrapped(|ui| {
            for (value, key) in [
                (Layout::SideBySide, "side_by_side"),
                (Layout::Swipe, "swipe"),
                (Layout::Overlay, "overlay"),
                (Layout::Heat, "heat_map"),
                (Layout::Colour, "colour_difference"),
                (Layout::SixViews, "six_views"),
            ] {
                ui.selectable_value(&mut self.layout, value, t(key));
            }
        });
        ui.checkbox(&mut self.sync, t("sync"));
        if self.tool == Tool::Pair || !self.pairs.0.is_empty() {
            ui.small(format!(
                "{}: {} / {}",
                t("pairs"),
                self.pairs.0.len(),
                self.pairs.1.len()
            ));
            ui.horizontal(|ui| {
                let complete = self.pairs.0.len() >= 3 && self.pairs.0.len() == self.pairs.1.len();
                if ui
                    .add_enabled(complete, egui::Button::new(t("align_pairs")))
                    .clicked()
                {
                    self.align_by_pairs();
                }
                if ui.button(t("clear")).clicked() {
                    self.pairs = (Vec::new(), Vec::new());
                }
            });
        }
        if self.layout == Layout::Swipe {
            ui.add(egui::Slider::new(&mut self.swipe, 0.0..=1.0).text(t("divider")));
        }
        if (self.layout, self.sync, self.swipe) != before {
            self.dirty = true;
        }
        let tolerance = self.tolerance_mm;
        ui.add(egui::Slider::new(&mut self.tolerance_mm, 0.0..=5.0).text(t("tolerance")));
        if (tolerance - self.tolerance_mm).abs() > f64::EPSILON {
            self.recolor_heat();
        }
        let Some(second) = &self.second else { return };
        egui::Grid::new("model b")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                ui.label("B");
                ui.label(
                    second
                        .path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy(),
                );
                ui.end_row();
                ui.label(t("sha256"));
                hash_label(ui, second.sha256.as_deref());
                ui.end_row();
            });
        match &second.comparison {
            None if second.compare_rx.is_some() => {
                ui.label(format!("{}…", t("aligning")));
            }
            None => {}
            Some(c) => {
                let (al, s) = (&c.alignment, &c.statistics);
                ui.small(format!("{}: {} ({})", t("alignment"), al.method, al.start));
                ui.small(format!(
                    "{:.3}° · {:.3} mm · RMS {:.4} mm",
                    al.rotation_deg, al.translation_mm, al.rms_mm
                ));
                ui.label(format!(
                    "{}: {:.4} / {:.4} / {:.4} / {:.4} mm",
                    t("deviation_stats"),
                    s.mean_mm,
                    s.rms_mm,
                    s.p95_mm,
                    s.max_mm
                ));
                ui.label(format!(
                    "{}: {:.1} % (±{} mm)",
                    t("within"),
                    s.within_tolerance * 100.0,
                    s.tolerance_mm
                ));
                if s.invented_share > 0.0 {
                    ui.label(format!(
                        "{}: {:.1} %",
                        t("invented"),
                        s.invented_share * 100.0
                    ));
                }
                if let (Layout::Colour, Some((_, c))) = (self.layout, &second.colour) {
                    ui.label(colour_summary(t("colour_difference"), c));
                }
                // The region of interest: the part the clipping plane keeps.
                if let Some(r) = &self.region_statistics {
                    ui.label(format!(
                        "{} ({}): {:.4} / {:.4} / {:.4} / {:.4} mm, {:.1} %",
                        t("roi"),
                        r.count,
                        r.mean_mm,
                        r.rms_mm,
                        r.p95_mm,
                        r.max_mm,
                        r.within_tolerance * 100.0
                    ));
                }
                if self.layout == Layout::Heat {
                    // The legend: the colour scale from −range to +range.
                    let (rect, _) = ui
                        .allocate_exact_size(Vec2::new(ui.available_width(), 14.0), Sense::hover());
                    let steps = 64;
                    for i in 0..steps {
                        let value = -s.range_mm
                            + 2.0 * s.range_mm * (f64::from(i) + 0.5) / f64::from(steps);
                        let [r, g, b] = crate::heatmap::color(value, s.tolerance_mm, s.range_mm);
                        let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
                        let x1 = rect.left() + rect.width() * (i + 1) as f32 / steps as f32;
                        ui.painter().rect_filled(
                            Rect::from_min_max(
                                Pos2::new(x0, rect.top()),
                                Pos2::new(x1, rect.bottom()),
                            ),
                            0.0,
                            Color32::from_rgb(r, g, b),
                        );
                    }
                    ui.horizontal(|ui| {
                        ui.small(format!("−{:.2} mm", s.range_mm));
                        ui.small("0");
                        ui.small(format!("+{:.2} mm", s.range_mm));
                    });
                }
            }
        }
    }

    /// Keys for the hands of someone presenting: views 1–7 (front, back, left, right, top, bottom, iso), F fit,
    /// Escape navigate, D distance, A angle, R area (Enter closes it), N annotate, S screenshot, Q share (QR), W wireframe,
    /// X X-ray, T tint reconstructed surface, C clipping plane. Ignored while a text field has the keyboard.
    fn shortcuts(&mut self) {
        use egui::Key;
        if self.ctx.egui_wants_keyboard_input() {
            return;
        }
        let ctx = self.ctx.clone();
        let pressed = move |key| ctx.input(|i| i.key_pressed(key));
        let views = [
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
            Key::Num7,
        ];
        for (key, view) in views.into_iter().zip(StandardView::ALL) {
            if pressed(key) {
                self.show_view(view);
            }
        }
        if pressed(Key::F) {
            self.show_view(self.view);
        }
        let mut tool = None;
        for (key, value) in [
            (Key::Escape, Tool::Navigate),
            (Key::D, Tool::Distance),
            (Key::A, Tool::Angle),
            (Key::R, Tool::Area),
            (Key::N, Tool::Annotate),
            (Key::P, Tool::Pair),
        ] {
            if pressed(key) {
                tool = Some(value);
            }
        }
        if let Some(tool) = tool {
            self.tool = tool;
            self.picks.clear();
            self.rebuild_overlay();
        }
        if pressed(Key::Enter) && self.tool == Tool::Area && self.picks.len() >= 3 {
            let area = Measurement::area(std::mem::take(&mut self.picks), self.budget.point_mm);
            self.add_measurement(area);
        }
        let before = self.style.clone();
        if pressed(Key::W) {
            self.style.wireframe = !self.style.wireframe;
        }
        if pressed(Key::X) {
            self.style.xray = !self.style.xray;
        }
        if pressed(Key::T) {
            self.style.tint_reconstructed = !self.style.tint_reconstructed;
        }
        if self.style != before {
            self.dirty = true;
        }
        if pressed(Key::C) {
            self.clip.on = !self.clip.on;
            self.update_clip();
        }
        if pressed(Key::S) {
            self.screenshot();
        }
        if pressed(Key::Q) {
            self.request_share();
        }
        if self.second.is_some() && pressed(Key::M) {
            self.layout = match self.layout {
                Layout::Heat => Layout::Colour,
                Layout::Colour => Layout::SixViews,
                Layout::Single | Layout::SixViews => Layout::SideBySide,
                Layout::SideBySide => Layout::Swipe,
                Layout::Swipe => Layout::Overlay,
                Layout::Overlay => Layout::Heat,
            };
            eprintln!("exhibit view: layout {:?}", self.layout);
            self.dirty = true;
        }
        if pressed(Key::L) && self.pairs.0.len() >= 3 && self.pairs.0.len() == self.pairs.1.len() {
            self.align_by_pairs();
        }
        if pressed(Key::Y) {
            self.sync = !self.sync;
            self.dirty = true;
        }
    }

    /// Ask the store (on another thread) for a link that opens this model at the current camera.
    fn request_share(&mut self) {
        let (Some(share), Some(camera)) = (self.share.clone(), self.camera) else {
            self.lang
                .t("share_needs_store")
                .clone_into(&mut self.status);
            return;
        };
        if self.share_rx.is_some() {
            return;
        }
        let Ok(camera) = serde_json::to_string(&camera) else {
            return;
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        let ctx = self.ctx.clone();
        // The request waits on the network: off the window's thread.
        rayon::spawn(move || {
            let _ = sender.send((share.0)(&camera));
            ctx.request_repaint();
        });
        self.share_rx = Some(receiver);
    }

    /// The link made, as a QR code a phone can scan and the address as text.
    fn show_share(&mut self) {
        if let Some(Ok(result)) = self.share_rx.as_ref().map(Receiver::try_recv) {
            self.share_rx = None;
            let decoded = result.and_then(|shared| {
                let image = image::load_from_memory(&shared.qr_png)
                    .map_err(|e| format!("the QR code does not decode: {e}"))?
                    .to_rgba8();
                let size = [image.width() as usize, image.height() as usize];
                let texture = self.ctx.load_texture(
                    "share QR",
                    egui::ColorImage::from_rgba_unmultiplied(size, image.as_raw()),
                    egui::TextureOptions::NEAREST,
                );
                Ok((shared.url, texture))
            });
            match decoded {
                Ok((url, texture)) => {
                    // Tests under Xvfb wait for this line before reading the QR code off the screen.
                    eprintln!("exhibit view: shared {url}");
                    self.shared = Some((url, texture));
                }
                Err(reason) => self.status = format!("{}: {reason}", self.lang.t("share")),
            }
        }
        let mut open = self.shared.is_some();
        if let Some((url, texture)) = &self.shared {
            egui::Window::new(self.lang.t("share"))
                .open(&mut open)
                .collapsible(false)
                .resizable(false)
                .show(&self.ctx, |ui| {
                    ui.image((texture.id(), egui::vec2(320.0, 320.0)));
                    ui.add(
                        egui::Label::new(egui::RichText::new(url).monospace().small())
                            .selectable(true),
                    );
                    ui.small(self.lang.t("share_hint"));
                });
        }
        if !open {
            self.shared = None;
        }
    }

    fn show_view(&mut self, view: StandardView) {
        if let Some(model) = &self.model {
            self.view = view;
            self.camera = Some(Camera::fitted(
                view,
                self.projection,
                &model.positions,
                self.aspect,
            ));
            self.dirty = true;
        }
    }

    /// Keep a finished measurement and say it on stderr (a record of what was measured during a session).
    fn add_measurement(&mut self, measurement: Measurement) {
        let kind = match measurement {
            Measurement::Distance { .. } => "distance",
            Measurement::Angle { .. } => "angle",
            Measurement::Area { .. } => "area",
        };
        eprintln!("exhibit view: measured {kind} {}", measurement.label());
        self.measurements.push(measurement);
        self.rebuild_overlay();
    }

    #[allow(
        clippy::too_many_lines,
        reason = "the panel reads top to bottom as the user sees it"
    )]
    fn panel(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let t = move |key| lang.t(key);
        ui.horizontal(|ui| {
            ui.heading(t("model"));
            if ui.button(t("language")).clicked() {
                self.lang = self.lang.other();
            }
        });
        let lang = self.lang;
        let t = move |key| lang.t(key);
        egui::Grid::new("facts")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                ui.label(t("file"));
                ui.label(self.path.file_name().unwrap_or_default().to_string_lossy());
                ui.end_row();
                ui.label(t("sha256"));
                hash_label(ui, self.sha256.as_deref());
                ui.end_row();
                ui.label(t("case"));
                ui.label(t("not_connected"));
                ui.end_row();
                ui.label(t("confirmations"));
                ui.label(t("no_confirmations"));
                ui.end_row();
                if let Some(model) = &self.model {
                    if model.is_points() {
                        ui.label(t("points"));
                        ui.label(model.positions.len().to_string());
                    } else {
                        ui.label(t("triangles"));
                        ui.label(model.triangle_count().to_string());
                    }
                    ui.end_row();
                    ui.label(t("level"));
                    ui.label(if model.level == 0 {
                        format!("0 / {} ({})", model.levels, t("full_detail"))
                    } else {
                        format!("{} / {} ({}…)", model.level, model.levels, t("loading"))
                    });
                    ui.end_row();
                    if let Some((low, high)) = model.bounds() {
                        ui.label(t("size"));
                        ui.label(format!(
                            "{:.1} × {:.1} × {:.1} mm",
                            (high[0] - low[0]) * 1e3,
                            (high[1] - low[1]) * 1e3,
                            (high[2] - low[2]) * 1e3
                        ));
                        ui.end_row();
                    }
                    if let Some(m) = &model.manifest {
                        ui.label(t("precision"));
                        ui.label(format!(
                            "{} {:.3} mm · {} {:.4} mm",
                            t("requested"),
                            m.error_bounds.precision_mm,
                            t("measured_max"),
                            m.error_bounds.max_position_error_mm
                        ));
                        ui.end_row();
                        let s = &m.surface;
                        let total = (s.measured_vertices + s.reconstructed_vertices).max(1) as f64;
                        ui.label(t("surface"));
                        ui.label(format!(
                            "{} {:.1} % · {} {:.1} %",
                            t("measured_share"),
                            s.measured_vertices as f64 / total * 100.0,
                            t("reconstructed_share"),
                            s.reconstructed_vertices as f64 / total * 100.0
                        ));
                        ui.end_row();
                    }
                }
            });
        ui.label(RichText::new(t("point_bound")).strong());
        match self.budget.point_mm {
            Some(mm) => {
                ui.label(format!("± {mm:.4} mm"));
                for part in &self.budget.parts {
                    ui.small(format!("  {}: {:.4} mm", part.name, part.mm));
                }
            }
            None => {
                ui.label("—");
            }
        }
        if !self.budget.not_recorded.is_empty() {
            ui.collapsing(t("not_recorded"), |ui| {
                for item in &self.budget.not_recorded {
                    ui.small(item);
                }
            });
        }
        if let Some(m) = self.model.as_ref().and_then(|m| m.manifest.as_ref()) {
            ui.collapsing(t("inputs"), |ui| {
                for input in &m.inputs {
                    ui.small(format!(
                        "{} · {} B · {}…",
                        input.name,
                        input.bytes,
                        &input.sha256[..input.sha256.len().min(16)]
                    ));
                }
            });
            ui.collapsing(t("steps"), |ui| {
                for step in &m.steps {
                    ui.small(format!("{} ({})", step.name, step.software));
                }
            });
        }
        if self.second.is_some() {
            self.comparison_panel(ui);
        }
        ui.separator();
        ui.label(RichText::new(t("views")).strong());
        let mut chosen = None;
        ui.horizontal_wrapped(|ui| {
            for view in StandardView::ALL {
                if ui
                    .selectable_label(self.view == view, t(view.name()))
                    .clicked()
                {
                    chosen = Some(view);
                }
            }
        });
        ui.horizontal(|ui| {
            let mut projection = self.projection;
            ui.radio_value(&mut projection, Projection::Orthographic, t("orthographic"));
            ui.radio_value(&mut projection, Projection::Perspective, t("perspective"));
            if projection != self.projection {
                self.projection = projection;
                chosen = Some(self.view);
            }
            if ui.button(t("fit")).clicked() {
                chosen = Some(self.view);
            }
        });
        if let Some(view) = chosen {
            self.show_view(view);
        }
        ui.separator();
        ui.label(RichText::new(t("display")).strong());
        let before = self.style.clone();
        ui.checkbox(&mut self.style.vertex_colors, t("colors"));
        ui.checkbox(&mut self.style.textures, t("textures"));
        ui.checkbox(&mut self.style.tint_reconstructed, t("tint"));
        ui.checkbox(&mut self.style.flat, t("flat"));
        ui.checkbox(&mut self.style.matcap, t("matcap"));
        ui.checkbox(&mut self.style.xray, t("xray"));
        ui.checkbox(&mut self.style.edges, t("edges"));
        ui.checkbox(&mut self.style.wireframe, t("wireframe"));
        if self.style != before {
            self.dirty = true;
        }
        ui.separator();
        ui.label(RichText::new(t("tools")).strong());
        let tool = self.tool;
        ui.horizontal_wrapped(|ui| {
            for (value, key) in [
                (Tool::Navigate, "navigate"),
                (Tool::Distance, "distance"),
                (Tool::Angle, "angle"),
                (Tool::Area, "area"),
                (Tool::Annotate, "annotate"),
                (Tool::Pair, "pair"),
            ] {
                ui.selectable_value(&mut self.tool, value, t(key));
            }
        });
        if self.tool != tool {
            self.picks.clear();
            self.rebuild_overlay();
        }
        ui.small(if self.tool == Tool::Navigate {
            t("hint_navigate")
        } else {
            t("hint_pick")
        });
        if self.tool == Tool::Area && self.picks.len() >= 3 && ui.button(t("close_area")).clicked()
        {
            let area = Measurement::area(std::mem::take(&mut self.picks), self.budget.point_mm);
            self.add_measurement(area);
        }
        if self.tool == Tool::Annotate {
            ui.horizontal(|ui| {
                ui.label(t("note"));
                ui.text_edit_singleline(&mut self.note);
            });
        }
        if !self.measurements.is_empty() {
            ui.label(RichText::new(t("measurements")).strong());
            for (i, m) in self.measurements.iter().enumerate() {
                let kind = match m {
                    Measurement::Distance { .. } => t("distance"),
                    Measurement::Angle { .. } => t("angle"),
                    Measurement::Area { .. } => t("area"),
                };
                ui.label(format!("{}. {kind}: {}", i + 1, m.label()));
            }
            if ui.button(t("clear")).clicked() {
                self.measurements.clear();
                self.picks.clear();
                self.rebuild_overlay();
            }
        }
        ui.separator();
        ui.label(RichText::new(t("clip")).strong());
        let (on, axis, flip, offset) = (
            self.clip.on,
            self.clip.axis,
            self.clip.flip,
            self.clip.offset_mm,
        );
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.clip.on, t("clip_on"));
            ui.label(t("axis"));
            for (i, name) in ["X", "Y", "Z"].into_iter().enumerate() {
                ui.selectable_value(&mut self.clip.axis, i, name);
            }
            ui.checkbox(&mut self.clip.flip, "±");
        });
        let half_mm = self
            .model
            .as_ref()
            .and_then(|m| m.bounds())
            .map_or(100.0, |(low, high)| {
                f64::from(high[self.clip.axis] - low[self.clip.axis]) * 0.5e3
            });
        ui.add(egui::Slider::new(&mut self.clip.offset_mm, -half_mm..=half_mm).text(t("offset")));
        if (on, axis, flip, offset)
            != (
                self.clip.on,
                self.clip.axis,
                self.clip.flip,
                self.clip.offset_mm,
            )
        {
            self.update_clip();
        }
        for s in &self.sections {
            ui.small(format!(
                "{}: {:.2} mm ({} segments)",
                t("section"),
                s.length_mm,
                s.segments.len()
            ));
        }
        ui.separator();
        ui.label(RichText::new(t("annotations")).strong());
        let mut remove = None;
        for (i, a) in self.annotations.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(format!("{}. {}", i + 1, a.text));
                if ui.small_button("×").clicked() {
                    remove = Some(i);
                }
            });
        }
        if let Some(i) = remove {
            self.annotations.remove(i);
            self.rebuild_overlay();
        }
        ui.horizontal(|ui| {
            if ui.button(t("save_annotations")).clicked() {
                self.save_annotations();
            }
            if ui.button(t("screenshot")).clicked() {
                self.screenshot();
            }
            if self.share.is_some() && ui.button(t("share")).clicked() {
                self.request_share();
            }
        });
        ui.separator();
        ui.small(format!(
            "{}: {}",
            t("adapter"),
            self.gpu.adapter_description()
        ));
        if !self.status.is_empty() {
            ui.small(&self.status);
        }
    }

    fn viewport(&mut self, ui: &mut egui::Ui) {
        let (full, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        if self.layout == Layout::SixViews {
            // Fixed views: no camera to move, nothing to pick.
            let _ = response;
            return self.paint_six_views(ui, full);
        }
        // Side by side: A's pane on the left, B's on the right, the same size.
        let (rect, b_rect) = if self.second.is_some() && self.layout == Layout::SideBySide {
            let half = full.width() * 0.5;
            (
                Rect::from_min_size(full.min, Vec2::new(half - 1.0, full.height())),
                Some(Rect::from_min_size(
                    full.min + Vec2::new(half + 1.0, 0.0),
                    Vec2::new(half - 1.0, full.height()),
                )),
            )
        } else {
            (full, None)
        };
        let ppp = ui.ctx().pixels_per_point();
        let width = (rect.width() * ppp).round().max(1.0) as u32;
        let height = (rect.height() * ppp).round().max(1.0) as u32;
        let aspect = f64::from(width) / f64::from(height);
        if (aspect - self.aspect).abs() > 1e-9 {
            self.aspect = aspect;
            if let (Some(model), Some(camera)) = (&self.model, &mut self.camera)
                && self.drawn_level.is_none()
            {
                camera.fit(&model.positions, aspect);
            }
            self.dirty = true;
        }
        // Swipe: a drag that starts near the divider moves it.
        if self.layout == Layout::Swipe
            && response.dragged_by(PointerButton::Primary)
            && let Some(at) = response.interact_pointer_pos()
            && (at.x - (rect.left() + rect.width() * self.swipe)).abs() < 24.0
        {
            self.swipe = ((at.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
            return self.paint_viewport(ui, full, rect, b_rect, (width, height));
        }
        // With the views not synchronized, gestures over B's pane move B's camera.
        let over_b = b_rect
            .zip(response.hover_pos())
            .is_some_and(|(r, p)| r.contains(p));
        if !self.sync
            && over_b
            && let Some(second) = &mut self.second
            && second.camera.is_none()
        {
            second.camera = self.camera;
        }
        let active = if !self.sync && over_b {
            self.second.as_mut().and_then(|s| s.camera.as_mut())
        } else {
            self.camera.as_mut()
        };
        if let Some(camera) = active {
            let drag = response.drag_delta();
            if drag != Vec2::ZERO {
                if response.dragged_by(PointerButton::Primary) && !ui.input(|i| i.modifiers.shift) {
                    camera.orbit(-f64::from(drag.x) * 0.01, -f64::from(drag.y) * 0.01);
                } else {
                    camera.pan(
                        -f64::from(drag.x / rect.height()),
                        f64::from(drag.y / rect.height()),
                    );
                }
                self.dirty = true;
            }
            if response.hovered() {
                let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
                let factor = f64::from(pinch) * (f64::from(scroll) * 0.002).exp();
                if (factor - 1.0).abs() > 1e-6 {
                    camera.zoom(factor);
                    self.dirty = true;
                }
            }
        }
        if response.double_clicked()
            && let Some(model) = &self.model
        {
            self.camera = Some(Camera::fitted(
                self.view,
                self.projection,
                &model.positions,
                self.aspect,
            ));
            self.dirty = true;
        } else if response.clicked()
            && self.tool == Tool::Pair
            && let (Some(at), Some(b_rect)) = (response.interact_pointer_pos(), b_rect)
            && b_rect.contains(at)
        {
            // B's half of a pair, after A's.
            match self.pick_b(at, b_rect) {
                Some(point) if self.pairs.1.len() < self.pairs.0.len() => {
                    self.pairs.1.push(point);
                    eprintln!("exhibit view: pair {} picked", self.pairs.1.len());
                }
                Some(_) => self.status = self.lang.t("pick_a_first").into(),
                None => self.status = self.lang.t("no_surface").into(),
            }
        } else if response.clicked()
            && self.tool != Tool::Navigate
            && let Some(at) = response.interact_pointer_pos()
        {
            match self.pick(at, rect) {
                Some(point) => self.on_pick(point),
                None => self.status = self.lang.t("no_surface").into(),
            }
        }
        self.paint_viewport(ui, full, rect, b_rect, (width, height));
    }

    /// Draw the scene if needed and paint the panes, the divider and the labels.
    fn paint_viewport(
        &mut self,
        ui: &egui::Ui,
        full: Rect,
        rect: Rect,
        b_rect: Option<Rect>,
        (width, height): (u32, u32),
    ) {
        let ppp = ui.ctx().pixels_per_point();
        self.draw_scene((width, height));
        let whole = ui.painter_at(full);
        let painter = ui.painter_at(rect);
        let uv_all = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        match self.texture {
            Some(id) => {
                painter.image(id, rect, uv_all, Color32::WHITE);
            }
            None => {
                painter.rect_filled(rect, 0.0, Color32::from_gray(40));
            }
        }
        let b_texture = self.second.as_ref().and_then(|s| s.texture);
        if let (Some(b_rect), Some(id)) = (b_rect, b_texture) {
            whole.image(id, b_rect, uv_all, Color32::WHITE);
            whole.vline(
                full.center().x,
                full.y_range(),
                Stroke::new(2.0, Color32::from_gray(90)),
            );
        }
        if let (Layout::Swipe, Some(id)) = (self.layout, b_texture) {
            // B over the part of the view right of the divider; dragging near the divider moves it.
            let x = rect.left() + rect.width() * self.swipe;
            let right = Rect::from_min_max(Pos2::new(x, rect.top()), rect.max);
            whole.image(
                id,
                right,
                Rect::from_min_max(Pos2::new(self.swipe, 0.0), Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
            whole.vline(
                x,
                rect.y_range(),
                Stroke::new(3.0, Color32::from_rgb(255, 217, 15)),
            );
            whole.text(
                Pos2::new(x - 8.0, rect.top() + 8.0),
                egui::Align2::RIGHT_TOP,
                "A",
                egui::FontId::proportional(18.0),
                Color32::WHITE,
            );
            whole.text(
                Pos2::new(x + 8.0, rect.top() + 8.0),
                egui::Align2::LEFT_TOP,
                "B",
                egui::FontId::proportional(18.0),
                Color32::WHITE,
            );
        }
        if let Some(b_rect) = b_rect {
            whole.text(
                rect.left_top() + Vec2::new(12.0, 36.0),
                egui::Align2::LEFT_TOP,
                "A",
                egui::FontId::proportional(18.0),
                Color32::WHITE,
            );
            whole.text(
                b_rect.left_top() + Vec2::new(12.0, 36.0),
                egui::Align2::LEFT_TOP,
                "B",
                egui::FontId::proportional(18.0),
                Color32::WHITE,
            );
        }
        if self.loading {
            painter.text(
                rect.left_top() + Vec2::new(12.0, 12.0),
                egui::Align2::LEFT_TOP,
                format!("{}…", self.lang.t("loading")),
                egui::FontId::proportional(16.0),
                Color32::WHITE,
            );
        }
        // Labels: measurements and annotations, placed where their points project.
        if let Some(camera) = &self.camera {
            let to_screen = |p: [f64; 3]| {
                project(camera, self.aspect, width, height, p)
                    .map(|(x, y)| rect.left_top() + Vec2::new(x as f32 / ppp, y as f32 / ppp))
            };
            for m in &self.measurements {
                let centre = m.label_anchor();
                if let Some(at) = to_screen(centre) {
                    label(&painter, at, &m.label(), Color32::from_rgb(255, 217, 15));
                }
            }
            for (i, a) in self.annotations.iter().enumerate() {
                if let Some(at) = to_screen(a.point_m) {
                    label(
                        &painter,
                        at,
                        &format!("{}. {}", i + 1, a.text),
                        Color32::from_rgb(255, 120, 220),
                    );
                }
            }
        }
    }
}

/// A SHA-256 shortened to its ends, the whole hash on hover.
fn hash_label(ui: &mut egui::Ui, hash: Option<&str>) {
    let short = hash.map_or_else(
        || "…".to_string(),
        |h| format!("{}…{}", &h[..12], &h[h.len() - 12..]),
    );
    ui.label(RichText::new(short).monospace())
        .on_hover_text(hash.unwrap_or_default());
}

fn label(painter: &egui::Painter, at: Pos2, text: &str, color: Color32) {
    let galley = painter.layout_no_wrap(text.to_string(), egui::FontId::proportional(14.0), color);
    let rect =
        Rect::from_min_size(at + Vec2::new(8.0, -8.0 - galley.size().y), galley.size()).expand(3.0);
    painter.rect_filled(rect, 3.0, Color32::from_black_alpha(200));
    painter.rect_stroke(
        rect,
        3.0,
        Stroke::new(1.0, color),
        egui::StrokeKind::Outside,
    );
    painter.galley(rect.min + Vec2::splat(3.0), galley, color);
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        // A wgpu error (validation, out of memory, a lost device) ends the window with its message: the
        // picture can no longer be trusted to show the model.
        let errors = self.gpu.take_escaped();
        if let Some(first) = errors.first() {
            record_fatal(format!(
                "drawing the window failed on {}: {first}",
                self.gpu.info.name
            ));
            self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        self.receive();
        self.receive_second();
        if self.layout == Layout::Colour {
            self.recolor_colour();
        }
        self.shortcuts();
        self.show_share();
        egui::Panel::left("facts and tools")
            .resizable(true)
            .default_size(340.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.panel(ui));
            });
        egui::CentralPanel::default_margins().show(ui, |ui| self.viewport(ui));
        let waiting = self
            .second
            .as_ref()
            .is_some_and(|s| s.loading || s.compare_rx.is_some());
        if self.loading || waiting {
            self.ctx
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_live_beside_the_model_and_round_trip() {
        assert_eq!(
            annotations_path(Path::new("/cases/12/lamp.glb")),
            Path::new("/cases/12/lamp.glb.annotations.json")
        );
        let file = AnnotationFile {
            model_sha256: "ab".repeat(32),
            annotations: vec![Annotation {
                point_m: [0.1, 0.2, 0.3],
                world_m: [1000.1, 20.2, 3.3],
                text: "划痕 scratch".into(),
            }],
        };
        let text = serde_json::to_string(&file).unwrap();
        assert_eq!(serde_json::from_str::<AnnotationFile>(&text).unwrap(), file);
    }
}
