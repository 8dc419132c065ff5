//! The viewer: one wgpu renderer for the desktop app, the web app and headless rendering, with the measuring
//! tools a hearing needs.
//!
//! - [`camera`]: orbit/pan/zoom, the six standard views of design-patent drawings, fitting, picking rays.
//! - [`appearance`]: the colour difference (CIEDE2000) between corresponding surface points of two aligned models.
//! - [`compare`]: aligning two models and the signed deviation of one from the other, with statistics.
//! - [`scene`]: a decoded model made ready to draw and to pick on.
//! - [`texture`]: a textured model's images as sRGB mipmap chains, its triangles grouped by image.
//! - [`render`]: the wgpu pipelines (studio light, matcap, edges, wireframe, X-ray, clipping, overlays).
//! - [`gpu`]: choosing a device (lavapipe on machines without a GPU) and reading pictures back.
//! - [`headless`]: `exhibit render`: a model to a PNG.
//! - [`measure`]: distances, angles, areas with the error bound the manifest justifies; cross-sections.
//! - [`overlay`]: the scale bar and labels drawn onto pictures.
//! - `desktop` (feature `desktop`): the hearing-room app, winit + egui.

pub mod appearance;
pub mod blit;
pub mod camera;
pub mod compare;
#[cfg(feature = "desktop")]
pub mod desktop;
mod error;
pub mod gpu;
pub mod headless;
pub mod heatmap;
pub mod i18n;
pub mod measure;
pub mod overlay;
pub mod render;
pub mod report;
pub mod scene;
pub mod texture;

pub use error::ViewerError;
/// The wgpu the viewer draws with, for callers that choose backends or read adapter facts.
pub use wgpu;
