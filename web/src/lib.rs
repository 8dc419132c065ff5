//! The viewer in the browser: the `viewer` crate's renderer drawing into a `<canvas>`, through WebGPU where
//! the browser offers it and WebGL2 otherwise. The page's script (`www/viewer.js`) fetches the model, feeds
//! pointer and touch gestures in, and asks for frames; everything drawn is drawn by the same code as
//! `exhibit render` and the desktop window, so a frame here matches the headless picture of the same view.
//!
//! On native targets this crate is empty (the workspace builds without a browser toolchain); `scripts/build-web`
//! builds it for wasm32 and runs wasm-bindgen.
#![cfg(target_arch = "wasm32")]

use glam::DMat4;
use viewer::blit::Blit;
use viewer::camera::{Camera, Projection, StandardView};
use viewer::render::{Antialias, Capabilities, DrawItem, GpuModel, Renderer, Style, Targets};
use viewer::scene::SceneModel;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// A model on the GPU with what the page may ask about it.
#[derive(Debug)]
struct Loaded {
    scene: SceneModel,
    gpu: GpuModel,
}

/// One canvas with its device, renderer and camera.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Viewer {
    /// wgpu errors no call caught (wgpu's default handler would panic): the next frame reports them instead of
    /// drawing, and the page then says the live view failed and shows the rendered picture.
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    surface: wgpu::Surface<'static>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: wgpu::SurfaceConfiguration,
    renderer: Renderer,
    targets: Option<Targets>,
    blit: Blit,
    model: Option<Loaded>,
    camera: Option<Camera>,
    view: StandardView,
    projection: Projection,
    style: Style,
    adapter: String,
    /// The camera was set by the person or the link: a finer level keeps it instead of fitting again.
    moved: bool,
    /// Where this viewer's model goes in the scene: identity for model A; for model B of a comparison,
    /// B's local frame to A's (so both panes share one camera).
    placement: DMat4,
    /// Model B, drawn with A in one scene (the overlay), with its placement.
    second: Option<(Loaded, DMat4)>,
    /// Draw the second model with the first, each in its own colour.
    overlay: bool,
    /// Model A coloured by its deviation from B (the heat map), and whether to draw it.
    heat: Option<GpuModel>,
    /// Model A coloured by its colour difference from B (CIEDE2000 in its texture space), and whether to draw it.
    colour: Option<GpuModel>,
    /// Which picture of A is drawn: its own colours, the heat map or the colour difference.
    colouring: Colouring,
    /// Graphics memory a model may take (vertex buffers, indices, textures with mipmaps), bytes; a level that
    /// needs more is refused before anything is uploaded, so the page keeps a coarser one.
    memory_budget: u64,
}

/// How model A is coloured in the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Colouring {
    /// Its own colours and textures.
    Own,
    /// By its deviation from B (the heat map).
    Deviation,
    /// By its colour difference from B (CIEDE2000).
    ColourDifference,
}

fn js_error(context: &str, error: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("{context}: {error}"))
}

#[wasm_bindgen]
impl Viewer {
    /// Open a device on `canvas` (WebGPU when the browser has a working adapter, WebGL2 otherwise).
    pub async fn open(canvas: web_sys::HtmlCanvasElement) -> Result<Viewer, JsError> {
        let (width, height) = (canvas.width().max(1), canvas.height().max(1));
        let instance = wgpu::util::new_instance_with_webgpu_detection(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::BROWSER_WEBGPU | wgpu::Backends::GL,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        })
        .await;
        let surface = instance
            .create_surface(wgpu::SurfaceTarget::Canvas(canvas))
            .map_err(|e| js_error("cannot draw on the canvas", e))?;
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                compatible_surface: Some(&surface),
                force_fallback_adapter: false,
                ..Default::default()
            })
            .await
            .map_err(|e| js_error("this browser offers no WebGPU or WebGL2 adapter", e))?;
        let info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("exhibit web"),
                // Large models need large buffers: take what the adapter offers.
                required_limits: wgpu::Limits {
                    max_buffer_size: adapter.limits().max_buffer_size,
                    ..wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits())
                },
                ..Default::default()
            })
            .await
            .map_err(|e| js_error("cannot open a device", e))?;
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&errors);
        device.on_uncaptured_error(std::sync::Arc::new(move |error: wgpu::Error| {
            if let Ok(mut errors) = sink.lock() {
                errors.push(error.to_string());
            }
        }));
        let capabilities = surface.get_capabilities(&adapter);
        // A plain (non-sRGB) surface takes the renderer's sRGB bytes as they are; an sRGB one gets linear values.
        let format = capabilities
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .or_else(|| capabilities.formats.first().copied())
            .ok_or_else(|| JsError::new("the canvas offers no surface format"))?;
        let mut config = surface
            .get_default_config(&adapter, width, height)
            .ok_or_else(|| JsError::new("the canvas does not work with this adapter"))?;
        config.format = format;
        config.usage = wgpu::TextureUsages::RENDER_ATTACHMENT;
        config.present_mode = wgpu::PresentMode::Fifo;
        surface.configure(&device, &config);
        // FXAA, as `exhibit render` uses on a CPU device: the same picture, and cheap on a phone.
        let renderer = Renderer::new(
            &device,
            wgpu::TextureFormat::Rgba8UnormSrgb,
            Antialias::Fxaa,
            Capabilities::of(&adapter),
        );
        let blit = Blit::new(&device, format);
        Ok(Viewer {
            errors,
            surface,
            device,
            queue,
            config,
            renderer,
            targets: None,
            blit,
            model: None,
            camera: None,
            view: StandardView::Iso,
            projection: Projection::Orthographic,
            style: Style::default(),
            moved: false,
            placement: DMat4::IDENTITY,
            second: None,
            overlay: false,
            heat: None,
            colour: None,
            colouring: Colouring::Own,
            memory_budget: u64::MAX,
            adapter: format!("{} ({:?})", info.name, info.backend),
        })
    }

    /// The graphics memory models may take, in MiB (the page derives it from the device's memory: a phone
    /// gets the level and texture size that fit).
    pub fn set_memory_budget_mb(&mut self, megabytes: f64) {
        if megabytes.is_finite() && megabytes > 0.0 {
            self.memory_budget = (megabytes * 1_048_576.0) as u64;
        }
    }

    /// The adapter drawing, e.g. `ANGLE (…SwiftShader…) (Gl)`.
    #[must_use]
    pub fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// Decode level `level` of a GLB (0: the model; higher: coarser, beyond the coarsest: the coarsest) and
    /// show it. The camera is fitted on the first model and kept when a finer level replaces a coarser one.
    /// Returns the facts the page shows, as JSON: triangles, points, level, levels, whether the geometry
    /// hashed to its manifest, and the manifest's error bound for that level in millimetres.
    pub fn load(&mut self, bytes: &[u8], level: usize) -> Result<String, JsError> {
        self.load_bytes(bytes, level, false)
    }

    /// How many bytes from the start of the file the coarsest level needs (see
    /// [`codec::level_prefix_len`]), or -1 while the downloaded `prefix` does not tell yet.
    #[must_use]
    pub fn coarsest_needs(&self, prefix: &[u8]) -> f64 {
        codec::level_prefix_len(prefix, usize::MAX).map_or(-1.0, |n| n as f64)
    }

    /// Show the coarsest level from a download still under way: `file` is the file's full length with only
    /// its first bytes received (at least what [`Viewer::coarsest_needs`] said; zeros after). The geometry
    /// cannot be checked against its manifest yet, so the facts say `null` there until [`Viewer::load`]
    /// has the whole file.
    pub fn load_preview(&mut self, file: &[u8]) -> Result<String, JsError> {
        self.load_bytes(file, usize::MAX, true)
    }

    fn load_bytes(&mut self, bytes: &[u8], level: usize, preview: bool) -> Result<String, JsError> {
        let model = codec::read_model_level_bytes(bytes, None, level)
            .map_err(|e| js_error("the model does not read", e))?;
        let hash_matches = if preview {
            None
        } else {
            model.bin_sha256_matches
        };
        let scene = SceneModel::from_model(model);
        if scene.positions.is_empty() {
            return Err(JsError::new("the model has nothing to draw"));
        }
        // A buffer beyond the device's limit would abort the whole viewer; refuse the level instead, so the
        // page can keep a coarser one.
        let largest = (scene.indices.len() * 4).max(scene.positions.len() * 12) as u64;
        let limit = self.device.limits().max_buffer_size;
        if largest > limit {
            return Err(JsError::new(&format!(
                "level {} needs a {} MB buffer; this browser's graphics allow {} MB",
                scene.level,
                largest >> 20,
                limit >> 20
            )));
        }
        // Known before upload: vertices, indices and every texture with its mipmaps.
        let needs = scene.gpu_bytes();
        if needs > self.memory_budget {
            return Err(JsError::new(&format!(
                "level {} needs {} MB of graphics memory (its textures included); this device's budget is {} MB",
                scene.level,
                needs >> 20,
                self.memory_budget >> 20
            )));
        }
        let bound_mm =
            viewer::measure::ErrorBudget::from_manifest(scene.manifest.as_ref(), scene.level)
                .point_mm;
        let gpu = self.renderer.upload(&self.device, &self.queue, &scene);
        let facts = serde_json::json!({
            "triangles": scene.triangle_count(),
            "points": if scene.is_points() { scene.positions.len() } else { 0 },
            "level": scene.level,
            "levels": scene.levels,
            "geometry_hash_matches": hash_matches,
            "error_bound_mm": bound_mm,
            "gpu_bytes": needs,
            "textures": scene.texture.as_ref().map_or(0, |t| t.images.len()),
        });
        // Fitted to each level until someone moves it, so the full model is framed exactly as `exhibit render`
        // frames it.
        if !self.moved {
            self.camera = Some(Camera::fitted(
                self.view,
                self.projection,
                &scene.positions,
                self.aspect(),
            ));
        }
        self.model = Some(Loaded { scene, gpu });
        Ok(facts.to_string())
    }

    /// Where the model's local origin is in world metres, as JSON `[x, y, z]` (to place a second model).
    #[must_use]
    pub fn origin(&self) -> String {
        self.model
            .as_ref()
            .map(|m| serde_json::json!(m.scene.origin_m).to_string())
            .unwrap_or_default()
    }

    /// Show this viewer's model (B) in the frame of model A, whose local origin is `origin_a` (world metres),
    /// moved by `transform` (16 numbers, column-major, world B to world A, as a saved comparison records it;
    /// empty: as placed). Then a camera copied from A's viewer shows the same view of both.
    pub fn place_in(&mut self, origin_a: &[f64], transform: &[f64]) -> Result<(), JsError> {
        self.placement = placement(origin_a, transform, self.model.as_ref())?;
        self.moved = true;
        Ok(())
    }

    /// Load model B into this viewer's scene (for the overlay), placed as [`Viewer::place_in`] describes
    /// from this viewer's model A.
    pub fn load_second(&mut self, bytes: &[u8], transform: &[f64]) -> Result<(), JsError> {
        let model = codec::read_model_level_bytes(bytes, None, 0)
            .map_err(|e| js_error("the second model does not read", e))?;
        let scene = SceneModel::from_model(model);
        let origin_a = self.model.as_ref().map_or([0.0; 3], |m| m.scene.origin_m);
        let gpu = self.renderer.upload(&self.device, &self.queue, &scene);
        let loaded = Loaded { scene, gpu };
        let placed = placement(&origin_a, transform, Some(&loaded))?;
        self.second = Some((loaded, placed));
        Ok(())
    }

    /// Draw the second model with the first (warm clay A, blue B), or the first alone.
    pub fn set_overlay(&mut self, on: bool) {
        self.overlay = on;
    }

    /// Measure A's deviation from B again with a recorded transform (16 numbers, world B to world A; empty:
    /// as placed), exactly as `exhibit compare` measures it, and colour A by it. Returns the statistics as
    /// JSON, and the legend's colour stops (`legend`: deviation in mm and sRGB colour).
    pub fn compute_heat(
        &mut self,
        transform: &[f64],
        tolerance_mm: f64,
    ) -> Result<String, JsError> {
        let (Some(a), Some((b, _))) = (&self.model, &self.second) else {
            return Err(JsError::new("the heat map needs both models"));
        };
        let align = match transform.len() {
            0 => viewer::compare::Align::None,
            16 => viewer::compare::Align::Given(
                <[f64; 16]>::try_from(transform).map_err(|_| JsError::new("16 numbers"))?,
            ),
            _ => return Err(JsError::new("a transform is 16 numbers")),
        };
        let options = viewer::compare::CompareOptions {
            align,
            tolerance_mm,
            ..viewer::compare::CompareOptions::default()
        };
        let comparison = viewer::compare::compare(&a.scene, &b.scene, &options)
            .map_err(|e| js_error("cannot compare", e))?;
        let s = &comparison.statistics;
        if comparison.direction != viewer::compare::Direction::AVerticesToBSurface {
            return Err(JsError::new(
                "B is a point cloud: its heat map is drawn by exhibit compare",
            ));
        }
        let colors = comparison
            .deviation_mm
            .iter()
            .map(|&d| viewer::heatmap::color(f64::from(d), s.tolerance_mm, s.range_mm))
            .collect();
        self.heat = Some(self.renderer.upload(
            &self.device,
            &self.queue,
            &a.scene.recolored(colors),
        ));
        let legend: Vec<serde_json::Value> = (0..=20)
            .map(|i| {
                let d = s.range_mm * (f64::from(i) / 10.0 - 1.0);
                serde_json::json!([d, viewer::heatmap::color(d, s.tolerance_mm, s.range_mm)])
            })
            .collect();
        let mut out = serde_json::to_value(s).map_err(|e| js_error("statistics", e))?;
        out["legend"] = serde_json::json!(legend);
        Ok(out.to_string())
    }

    /// Measure the colour difference (CIEDE2000 between corresponding surface points, sampled from the textures)
    /// of A and B (placed as `load_second` placed it, by the saved transform), exactly as `exhibit compare
    /// --colour` does, and colour A by it. Returns the statistics as JSON with the legend's stops (`legend`: ΔE and
    /// sRGB colour).
    pub fn compute_colour(&mut self, tolerance_de: f64) -> Result<String, JsError> {
        let (Some(a), Some((b, placed))) = (&self.model, &self.second) else {
            return Err(JsError::new("the colour difference needs both models"));
        };
        // B in A's local frame, where `load_second` placed it by the saved transform.
        let b_aligned: Vec<[f32; 3]> = b
            .scene
            .positions
            .iter()
            .map(|p| {
                placed
                    .transform_point3(glam::DVec3::from(p.map(f64::from)))
                    .as_vec3()
                    .to_array()
            })
            .collect();
        let options = viewer::appearance::ColourOptions {
            tolerance_de,
            ..viewer::appearance::ColourOptions::default()
        };
        let colour = viewer::appearance::compare_colour(&a.scene, &b.scene, &b_aligned, &options)
            .map_err(|e| js_error("cannot compare colours", e))?;
        let map = colour.map_on(&a.scene);
        self.colour = Some(self.renderer.upload(&self.device, &self.queue, &map));
        let s = &colour.statistics;
        let legend: Vec<serde_json::Value> = (0..=12)
            .map(|i| {
                let de = s.tolerance_de * 3.0 * f64::from(i) / 12.0;
                serde_json::json!([de, viewer::appearance::de_color(de, s.tolerance_de)])
            })
            .collect();
        let mut out = serde_json::to_value(s).map_err(|e| js_error("statistics", e))?;
        out["legend"] = serde_json::json!(legend);
        Ok(out.to_string())
    }

    /// Draw A coloured by its colour difference (after [`Viewer::compute_colour`]) instead of its own colours.
    pub fn set_colour(&mut self, on: bool) {
        if on {
            self.colouring = Colouring::ColourDifference;
        } else if self.colouring == Colouring::ColourDifference {
            self.colouring = Colouring::Own;
        }
    }

    /// Draw A coloured by its deviation (after [`Viewer::compute_heat`]) instead of its own colours.
    pub fn set_heat(&mut self, on: bool) {
        if on {
            self.colouring = Colouring::Deviation;
        } else if self.colouring == Colouring::Deviation {
            self.colouring = Colouring::Own;
        }
    }

    /// Look from a standard view (front, back, left, right, top, bottom, iso), fitted to the model.
    pub fn set_view(&mut self, name: &str) -> Result<(), JsError> {
        self.view = StandardView::from_name(name)
            .ok_or_else(|| JsError::new(&format!("unknown view {name:?}")))?;
        if let Some(model) = &self.model {
            self.camera = Some(Camera::fitted(
                self.view,
                self.projection,
                &model.scene.positions,
                self.aspect(),
            ));
        }
        Ok(())
    }

    /// The camera as JSON (for a link that opens the same view), or an empty string before a model.
    #[must_use]
    pub fn camera(&self) -> String {
        self.camera
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok())
            .unwrap_or_default()
    }

    /// Take a camera given as JSON (from a link).
    pub fn set_camera(&mut self, json: &str) -> Result<(), JsError> {
        let camera: Camera = serde_json::from_str(json).map_err(|e| js_error("not a camera", e))?;
        self.camera = Some(camera);
        self.moved = true;
        Ok(())
    }

    /// Turn around the target by a drag of `dx`, `dy` pixels.
    pub fn orbit(&mut self, dx: f64, dy: f64) {
        let height = f64::from(self.config.height.max(1));
        self.moved = true;
        if let Some(camera) = &mut self.camera {
            camera.orbit(
                -dx / height * std::f64::consts::PI,
                -dy / height * std::f64::consts::PI,
            );
        }
    }

    /// Slide the view by `dx`, `dy` pixels.
    pub fn pan(&mut self, dx: f64, dy: f64) {
        let height = self.config.height.max(1);
        self.moved = true;
        if let Some(camera) = &mut self.camera {
            let metres = camera.metres_per_pixel(height);
            camera.pan(-dx * metres, dy * metres);
        }
    }

    /// Zoom by `factor` (above 1: closer).
    pub fn zoom(&mut self, factor: f64) {
        self.moved = true;
        if let Some(camera) = &mut self.camera
            && factor.is_finite()
            && factor > 0.0
        {
            camera.zoom(factor);
        }
    }

    /// The canvas's drawing buffer changed size.
    pub fn resize(&mut self, width: u32, height: u32) {
        let (width, height) = (width.clamp(1, 8192), height.clamp(1, 8192));
        if (width, height) != (self.config.width, self.config.height) {
            self.config.width = width;
            self.config.height = height;
            self.surface.configure(&self.device, &self.config);
            self.targets = None;
        }
    }

    /// Draw one frame.
    pub fn render(&mut self) -> Result<(), JsError> {
        if let Some(first) = self
            .errors
            .lock()
            .ok()
            .and_then(|errors| errors.first().cloned())
        {
            return Err(JsError::new(&format!(
                "the graphics device failed: {first}"
            )));
        }
        let (width, height) = (self.config.width, self.config.height);
        if self
            .targets
            .as_ref()
            .is_none_or(|t| t.size != (width, height))
        {
            self.targets = Some(self.renderer.targets(&self.device, width, height));
        }
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame)
            | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => frame,
            other => {
                // Lost or outdated (a resize, a tab in the background): configure again and skip this frame.
                self.surface.configure(&self.device, &self.config);
                return Err(JsError::new(&format!("no frame this time: {other:?}")));
            }
        };
        let Some(targets) = &self.targets else {
            return Ok(());
        };
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        if let (Some(model), Some(camera)) = (&self.model, &self.camera) {
            let aspect = f64::from(width) / f64::from(height);
            let shown = match (&self.heat, &self.colour) {
                (_, Some(colour)) if self.colouring == Colouring::ColourDifference => colour,
                (Some(heat), _) if self.colouring == Colouring::Deviation => heat,
                _ => &model.gpu,
            };
            let mut items = vec![DrawItem {
                model: shown,
                scene_from_model: self.placement,
                color: None,
            }];
            if self.overlay
                && let Some((second, placed)) = &self.second
            {
                items[0].color = Some([0.70, 0.52, 0.36, 1.0]);
                items.push(DrawItem {
                    model: &second.gpu,
                    scene_from_model: *placed,
                    color: Some([0.15, 0.45, 0.95, 1.0]),
                });
            }
            self.renderer.draw(
                &self.queue,
                &mut encoder,
                targets,
                &items,
                &camera.matrices(aspect),
                &self.style,
                None,
            );
        }
        let view = frame
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        self.blit
            .draw(&self.device, &mut encoder, &targets.color, &view);
        self.queue.submit([encoder.finish()]);
        self.queue.present(frame);
        Ok(())
    }

    fn aspect(&self) -> f64 {
        f64::from(self.config.width.max(1)) / f64::from(self.config.height.max(1))
    }
}

/// Model B's local frame to model A's: `p_a = T(−o_a) · world · T(o_b) · p_b`.
fn placement(origin_a: &[f64], transform: &[f64], b: Option<&Loaded>) -> Result<DMat4, JsError> {
    let [ax, ay, az] = <[f64; 3]>::try_from(origin_a)
        .map_err(|_| JsError::new("the first model's origin is three numbers"))?;
    let world = match transform.len() {
        0 => DMat4::IDENTITY,
        16 if transform.iter().all(|v| v.is_finite()) => DMat4::from_cols_slice(transform),
        _ => {
            return Err(JsError::new(
                "a transform is 16 finite numbers, column-major",
            ));
        }
    };
    let origin_b = b.map_or([0.0; 3], |m| m.scene.origin_m);
    Ok(DMat4::from_translation(glam::DVec3::new(-ax, -ay, -az))
        * world
        * DMat4::from_translation(glam::DVec3::from(origin_b)))
}
