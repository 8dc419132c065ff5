//! The wgpu renderer shared by the desktop app, the web app and headless rendering.
//!
//! One frame: the model (shaded, clipped, tinted where reconstructed) into a multisampled colour target and a
//! normal/depth target; the wireframe over it; then a full-screen pass that draws silhouette and crease lines
//! from the normal/depth target; then overlay lines (cross-sections, measurements, annotations) on top.
//! The caller owns the device; the renderer owns its pipelines and the per-model buffers.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use glam::DMat4;
use wgpu::util::DeviceExt;

use crate::camera::Matrices;
use crate::scene::SceneModel;

/// The shaders, as the GPU gets them (also validated with naga by the tests).
pub const MESH_SHADER: &str = include_str!("../../assets/shaders/mesh.wgsl");
/// Fast approximate anti-aliasing.
pub const FXAA_SHADER: &str = include_str!("../../assets/shaders/fxaa.wgsl");
/// Silhouette and crease lines.
pub const EDGES_SHADER: &str = include_str!("../../assets/shaders/edges.wgsl");
/// Wireframe, outlines and markers.
pub const LINES_SHADER: &str = include_str!("../../assets/shaders/lines.wgsl");

/// The edge shader for a single-sampled or a multisampled normal/depth target (`textureLoad`'s last argument
/// is the mip level for one and the sample index for the other: 0 in both cases).
#[must_use]
pub fn edges_shader(multisampled: bool) -> String {
    if multisampled {
        EDGES_SHADER.replace("texture_2d<f32>", "texture_multisampled_2d<f32>")
    } else {
        EDGES_SHADER.to_string()
    }
}

/// The normal/depth target: view-space normal and eye distance, for the edge pass.
const NORMAL_DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// Shading flags, as in `mesh.wgsl`.
const FLAG_VERTEX_COLORS: u32 = 1;
const FLAG_TINT_RECONSTRUCTED: u32 = 2;
const FLAG_FLAT: u32 = 4;
const FLAG_MATCAP: u32 = 8;
const FLAG_XRAY: u32 = 16;
const FLAG_HAS_NORMALS: u32 = 32;
const FLAG_POINTS: u32 = 64;

/// The most clipping planes at once.
pub const MAX_CLIP_PLANES: usize = 4;

/// How to draw: every switch the viewer's panel has.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent display switches, one per checkbox"
)]
#[derive(Clone, Debug, PartialEq)]
pub struct Style {
    /// Background, linear RGB.
    pub background: [f32; 3],
    /// Use the file's vertex colours (when it has them); otherwise a neutral clay.
    pub vertex_colors: bool,
    /// Draw textured surfaces with their images (the print); off shows the shape alone.
    pub textures: bool,
    /// Colour for models drawn without vertex colours, linear RGB.
    pub base_color: [f32; 3],
    /// Tint surface that reconstruction filled in (the `_MEASURED` flag is 0 there).
    pub tint_reconstructed: bool,
    /// Flat shading (one normal per triangle) instead of smooth.
    pub flat: bool,
    /// The clay matcap instead of the studio light rig.
    pub matcap: bool,
    /// X-ray: see-through surface, edge-on parts more opaque.
    pub xray: bool,
    /// Silhouette and crease lines.
    pub edges: bool,
    /// Triangle edges over the surface.
    pub wireframe: bool,
    /// Clipping planes in model space `[nx, ny, nz, d]`: kept where `n·p + d >= 0` (at most [`MAX_CLIP_PLANES`]).
    pub clip_planes: Vec<[f64; 4]>,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            background: [0.030, 0.035, 0.045],
            vertex_colors: true,
            textures: true,
            base_color: [0.62, 0.60, 0.56],
            tint_reconstructed: false,
            flat: false,
            matcap: false,
            xray: false,
            edges: true,
            wireframe: false,
            clip_planes: Vec::new(),
        }
    }
}

/// One vertex of an overlay line: model-space position and linear RGBA colour.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct LineVertex {
    /// Model frame, metres.
    pub position: [f32; 3],
    /// Linear RGBA.
    pub color: [f32; 4],
}

/// One model to draw, with where it goes.
#[derive(Debug)]
pub struct DrawItem<'a> {
    /// The uploaded model.
    pub model: &'a GpuModel,
    /// The model's frame to the scene's (identity for a single model).
    pub scene_from_model: DMat4,
    /// Draw in this linear RGBA colour instead of the model's own (overlays of two models); alpha below 1
    /// draws it see-through.
    pub color: Option<[f32; 4]>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct FrameUniform {
    view_from_model: [[f32; 4]; 4],
    clip_from_view: [[f32; 4]; 4],
    planes: [[f32; 4]; MAX_CLIP_PLANES],
    counts: [u32; 4],
    base_color: [f32; 4],
    tint: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LinesUniform {
    view_from_model: [[f32; 4]; 4],
    clip_from_view: [[f32; 4]; 4],
    color: [f32; 4],
    params: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct EdgesUniform {
    params: [f32; 4],
    color: [f32; 4],
}

/// A model's buffers on the GPU.
#[derive(Debug)]
pub struct GpuModel {
    positions: wgpu::Buffer,
    normals: wgpu::Buffer,
    color_flag: wgpu::Buffer,
    indices: Option<wgpu::Buffer>,
    index_count: u32,
    vertex_count: u32,
    /// A textured model's coordinates, its images (`None` where one could not be made) and its triangles by image.
    textures: Option<GpuTextures>,
    has_normals: bool,
    has_colors: bool,
    has_measured_flag: bool,
    /// The wireframe's edge list, made when first asked for.
    edges: OnceLock<(wgpu::Buffer, u32)>,
    /// Unique edges as vertex pairs, kept on the CPU until the wireframe is first drawn.
    frame: wgpu::Buffer,
    frame_group: wgpu::BindGroup,
    wire: wgpu::Buffer,
    wire_group: wgpu::BindGroup,
}

/// A textured model's part on the GPU.
#[derive(Debug)]
struct GpuTextures {
    uvs: wgpu::Buffer,
    images: Vec<Option<wgpu::BindGroup>>,
    groups: Vec<crate::texture::DrawGroup>,
    /// Bytes the images take on the GPU.
    bytes: u64,
}

impl GpuModel {
    /// Bytes of GPU memory the model's textures take (0 when untextured).
    #[must_use]
    pub fn texture_bytes(&self) -> u64 {
        self.textures.as_ref().map_or(0, |t| t.bytes)
    }

    /// Triangles drawn (0 for points).
    #[must_use]
    pub fn triangle_count(&self) -> u32 {
        self.index_count / 3
    }

    /// Vertices or points uploaded.
    #[must_use]
    pub fn vertex_count(&self) -> u32 {
        self.vertex_count
    }
}

/// The textures one frame is drawn into.
#[derive(Debug)]
pub struct Targets {
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// The finished picture (single-sampled, the renderer's colour format).
    pub color: wgpu::Texture,
    color_view: wgpu::TextureView,
    display_view: wgpu::TextureView,
    color_msaa: Option<wgpu::TextureView>,
    /// On devices that cannot view the picture as plain bytes: a plain copy of it for the window, and the bind
    /// group the copy reads the picture with (see [`Renderer::targets_for_display`]).
    display: Option<(wgpu::Texture, wgpu::BindGroup)>,
    normal_depth: wgpu::TextureView,
    depth: wgpu::TextureView,
    edges_group: wgpu::BindGroup,
    fxaa_source: Option<wgpu::TextureView>,
    fxaa_group: Option<wgpu::BindGroup>,
}

impl Targets {
    /// A view of the finished picture that reads its sRGB bytes as they are (for egui, which decodes sRGB
    /// itself). On a device that cannot reinterpret formats (wgpu's GL backend, WebGL2), targets made by
    /// [`Renderer::targets_for_display`] hold a plain copy drawn after every frame; otherwise it is the picture's
    /// own sRGB view, which a window would show too dark.
    #[must_use]
    pub fn display_view(&self) -> &wgpu::TextureView {
        &self.display_view
    }
}

/// How edges are smoothed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Antialias {
    /// None: every pixel is one sample.
    None,
    /// One sample per pixel, then a fast approximate anti-aliasing pass (cheap everywhere; the default on
    /// CPU devices, where 4× multisampling costs about 4× the frame).
    Fxaa,
    /// Four samples per pixel.
    Msaa4,
}

impl Antialias {
    /// Samples per pixel.
    #[must_use]
    pub fn samples(self) -> u32 {
        if self == Self::Msaa4 { 4 } else { 1 }
    }

    /// The best choice for a device: multisampling on a GPU, FXAA on a CPU rasterizer.
    #[must_use]
    pub fn for_device(device_type: wgpu::DeviceType) -> Self {
        if device_type == wgpu::DeviceType::Cpu {
            Self::Fxaa
        } else {
            Self::Msaa4
        }
    }
}

/// What a device can do beyond WebGL2's floor, as far as the renderer cares. wgpu's GL backend (Mesa llvmpipe
/// through EGL) and a browser's WebGL2 lack some of it; Vulkan and WebGPU devices have it all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Downlevel flags: `VIEW_FORMATS` (see [`Targets::display_view`]) and `INDEPENDENT_BLEND` (x-ray and
    /// wireframe) matter here.
    pub downlevel: wgpu::DownlevelFlags,
    /// Whether the picture, normal/depth and depth formats can all be drawn with 4 samples per pixel.
    pub msaa4: bool,
}

impl Capabilities {
    /// What `adapter` offers. Formats count as multisampled only where both the adapter and wgpu's guaranteed
    /// features say so (the renderer does not ask for adapter-specific format features).
    #[must_use]
    pub fn of(adapter: &wgpu::Adapter) -> Self {
        let msaa4 = [
            wgpu::TextureFormat::Rgba8UnormSrgb,
            NORMAL_DEPTH_FORMAT,
            DEPTH_FORMAT,
        ]
        .into_iter()
        .all(|format| {
            adapter
                .get_texture_format_features(format)
                .flags
                .sample_count_supported(4)
                && format
                    .guaranteed_format_features(wgpu::Features::empty())
                    .flags
                    .sample_count_supported(4)
        });
        Self {
            downlevel: adapter.get_downlevel_capabilities().flags,
            msaa4,
        }
    }
}

/// Pipelines and layouts; one per device and colour format.
#[derive(Debug)]
pub struct Renderer {
    color_format: wgpu::TextureFormat,
    antialias: Antialias,
    sample_count: u32,
    /// Whether the device can view a texture in another format (not on WebGL2): see [`Targets::display_view`].
    view_formats: bool,
    /// Where the device cannot view the picture as plain bytes: the pass that copies it, encoded, for a window.
    /// Made by the first [`Renderer::targets_for_display`] that needs it: headless and web renderers never do.
    display_blit: std::sync::OnceLock<crate::blit::Blit>,
    fxaa_layout: wgpu::BindGroupLayout,
    fxaa: wgpu::RenderPipeline,
    linear_sampler: wgpu::Sampler,
    frame_layout: wgpu::BindGroupLayout,
    edges_layout: wgpu::BindGroupLayout,
    mesh: wgpu::RenderPipeline,
    /// The same for triangles that sample an image (group 1: the image and its sampler).
    mesh_textured: wgpu::RenderPipeline,
    mesh_xray_textured: Option<wgpu::RenderPipeline>,
    texture_layout: wgpu::BindGroupLayout,
    texture_sampler: wgpu::Sampler,
    /// Largest texture side the device takes: larger images are uploaded from the first mip level that fits.
    max_texture_side: u32,
    /// See-through surfaces and wireframes write the picture but not the normal/depth target, which needs
    /// independent blending per target: `None` on devices without it (WebGL2), where x-ray draws solid and
    /// the wireframe is not drawn.
    mesh_xray: Option<wgpu::RenderPipeline>,
    points: wgpu::RenderPipeline,
    wireframe: Option<wgpu::RenderPipeline>,
    edges: wgpu::RenderPipeline,
    overlay: wgpu::RenderPipeline,
    edges_uniform: wgpu::Buffer,
    overlay_uniform: wgpu::Buffer,
    overlay_group: wgpu::BindGroup,
}

fn uniform_layout_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A render pipeline of the scene pass: layout and module, vertex and fragment entry points with the vertex
/// buffers, topology, colour targets and depth, multisampling.
fn shaded_pipeline(
    device: &wgpu::Device,
    label: &str,
    (layout, module): (&wgpu::PipelineLayout, &wgpu::ShaderModule),
    (vertex, fragment, buffers): (&str, &str, &[Option<wgpu::VertexBufferLayout<'_>>]),
    topology: wgpu::PrimitiveTopology,
    (targets, depth_stencil): (
        &[Option<wgpu::ColorTargetState>],
        Option<wgpu::DepthStencilState>,
    ),
    multisample: wgpu::MultisampleState,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some(vertex),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers,
        },
        primitive: wgpu::PrimitiveState {
            topology,
            front_face: wgpu::FrontFace::Ccw,
            // Both faces: a clipped or open scan shows its inside (darkened by the shader).
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil,
        multisample,
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some(fragment),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets,
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// The bind group layout of a pass that reads one picture: a filterable 2D texture at binding 0 and its
/// sampler at binding 1, both for the fragment stage (anti-aliasing here, the canvas blit in the web viewer).
#[must_use]
pub fn picture_layout(device: &wgpu::Device, label: &str) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: true },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
        ],
    })
}

/// A pass over the whole picture: one triangle from `vs_main`, `fs_main` writing one colour target, with the
/// fragment stage's pipeline-overridable `constants`.
pub(crate) fn fullscreen_pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    format: wgpu::TextureFormat,
    blend: Option<wgpu::BlendState>,
    constants: &[(&str, f64)],
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some("fs_main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                ..Default::default()
            },
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

fn mat(m: glam::Mat4) -> [[f32; 4]; 4] {
    m.to_cols_array_2d()
}

impl Renderer {
    /// Pipelines for pictures in `color_format` on a device with `capabilities`, smoothed by `antialias`
    /// (4× multisampling falls back to FXAA where the device cannot multisample every target).
    #[allow(
        clippy::too_many_lines,
        reason = "each pipeline's description is long; together they read as one table"
    )]
    #[must_use]
    pub fn new(
        device: &wgpu::Device,
        color_format: wgpu::TextureFormat,
        antialias: Antialias,
        capabilities: Capabilities,
    ) -> Self {
        let downlevel = capabilities.downlevel;
        let antialias = if antialias == Antialias::Msaa4 && !capabilities.msaa4 {
            Antialias::Fxaa
        } else {
            antialias
        };
        let independent_blend = downlevel.contains(wgpu::DownlevelFlags::INDEPENDENT_BLEND);
        let sample_count = antialias.samples();
        let frame_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("frame"),
            entries: &[uniform_layout_entry(0, wgpu::ShaderStages::VERTEX_FRAGMENT)],
        });
        let edges_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("edges"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        // Multisampled: the edge pass reads sample 0 of the normal/depth target directly,
                        // which saves resolving it (a full-screen pass of 8-byte texels on a CPU device).
                        multisampled: sample_count > 1,
                    },
                    count: None,
                },
                uniform_layout_entry(1, wgpu::ShaderStages::FRAGMENT),
            ],
        });
        let frame_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("frame"),
                bind_group_layouts: &[Some(&frame_layout)],
                immediate_size: 0,
            });
        let texture_layout = picture_layout(device, "base colour texture");
        let textured_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("textured"),
                bind_group_layouts: &[Some(&frame_layout), Some(&texture_layout)],
                immediate_size: 0,
            });
        let edges_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("edges"),
                bind_group_layouts: &[Some(&edges_layout)],
                immediate_size: 0,
            });
        let mesh_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mesh.wgsl"),
            source: wgpu::ShaderSource::Wgsl(MESH_SHADER.into()),
        });
        let edges_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("edges.wgsl"),
            source: wgpu::ShaderSource::Wgsl(edges_shader(sample_count > 1).into()),
        });
        let lines_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("lines.wgsl"),
            source: wgpu::ShaderSource::Wgsl(LINES_SHADER.into()),
        });
        let multisample = wgpu::MultisampleState {
            count: sample_count,
            mask: !0,
            alpha_to_coverage_enabled: false,
        };
        let scene_targets = |blend: Option<wgpu::BlendState>, normal_writes: wgpu::ColorWrites| {
            [
                Some(wgpu::ColorTargetState {
                    format: color_format,
                    blend,
                    write_mask: wgpu::ColorWrites::ALL,
                }),
                Some(wgpu::ColorTargetState {
                    format: NORMAL_DEPTH_FORMAT,
                    blend: None,
                    write_mask: normal_writes,
                }),
            ]
        };
        let depth = |write: bool, compare: wgpu::CompareFunction| {
            Some(wgpu::DepthStencilState {
                format: DEPTH_FORMAT,
                depth_write_enabled: Some(write),
                depth_compare: Some(compare),
                stencil: wgpu::StencilState::default(),
                bias: wgpu::DepthBiasState::default(),
            })
        };
        let mesh_buffers = [
            Some(wgpu::VertexBufferLayout {
                array_stride: 12,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3],
            }),
            Some(wgpu::VertexBufferLayout {
                array_stride: 8,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![1 => Snorm16x4],
            }),
            Some(wgpu::VertexBufferLayout {
                array_stride: 4,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![2 => Unorm8x4],
            }),
        ];
        let textured_buffers = [
            mesh_buffers[0].clone(),
            mesh_buffers[1].clone(),
            mesh_buffers[2].clone(),
            Some(wgpu::VertexBufferLayout {
                array_stride: 8,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![3 => Float32x2],
            }),
        ];
        // The scene's pipelines differ in topology, blending, depth writes and whether they sample an image.
        let scene_pipeline = |label: &str,
                              textured: bool,
                              topology: wgpu::PrimitiveTopology,
                              blend: Option<wgpu::BlendState>,
                              depth_write: bool| {
            let (layout, vertex, fragment, buffers) = if textured {
                (
                    &textured_pipeline_layout,
                    "vs_textured",
                    "fs_textured",
                    &textured_buffers[..],
                )
            } else {
                (
                    &frame_pipeline_layout,
                    "vs_main",
                    "fs_main",
                    &mesh_buffers[..],
                )
            };
            // X-ray surfaces leave the normal/depth target empty: lines through a see-through model would be
            // every hidden crease at once.
            let normal_writes = if depth_write {
                wgpu::ColorWrites::ALL
            } else {
                wgpu::ColorWrites::empty()
            };
            shaded_pipeline(
                device,
                label,
                (layout, &mesh_module),
                (vertex, fragment, buffers),
                topology,
                (
                    &scene_targets(blend, normal_writes),
                    depth(depth_write, wgpu::CompareFunction::Less),
                ),
                multisample,
            )
        };
        let triangles = wgpu::PrimitiveTopology::TriangleList;
        let see_through = Some(wgpu::BlendState::ALPHA_BLENDING);
        let mesh = scene_pipeline("mesh", false, triangles, None, true);
        let mesh_xray = independent_blend
            .then(|| scene_pipeline("mesh x-ray", false, triangles, see_through, false));
        let mesh_textured = scene_pipeline("mesh textured", true, triangles, None, true);
        let mesh_xray_textured = independent_blend
            .then(|| scene_pipeline("mesh x-ray textured", true, triangles, see_through, false));
        let points = scene_pipeline(
            "points",
            false,
            wgpu::PrimitiveTopology::PointList,
            None,
            true,
        );
        let wireframe = independent_blend.then(|| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("wireframe"),
                layout: Some(&frame_pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &lines_module,
                    entry_point: Some("vs_plain"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: 12,
                        step_mode: wgpu::VertexStepMode::Vertex,
                        attributes: &wgpu::vertex_attr_array![0 => Float32x3],
                    })],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::LineList,
                    ..Default::default()
                },
                depth_stencil: depth(false, wgpu::CompareFunction::LessEqual),
                multisample,
                fragment: Some(wgpu::FragmentState {
                    module: &lines_module,
                    entry_point: Some("fs_main"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    targets: &scene_targets(
                        Some(wgpu::BlendState::ALPHA_BLENDING),
                        wgpu::ColorWrites::empty(),
                    ),
                }),
                multiview_mask: None,
                cache: None,
            })
        });
        let edges = fullscreen_pipeline(
            device,
            "edges",
            &edges_pipeline_layout,
            &edges_module,
            color_format,
            Some(wgpu::BlendState::ALPHA_BLENDING),
            &[],
        );
        let overlay = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("overlay lines"),
            layout: Some(&frame_pipeline_layout),
            vertex: wgpu::VertexState {
                module: &lines_module,
                entry_point: Some("vs_colored"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<LineVertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x4],
                })],
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::LineList,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &lines_module,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: color_format,
                    blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let edges_uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("edges"),
            size: std::mem::size_of::<EdgesUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let overlay_uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("overlay"),
            size: std::mem::size_of::<LinesUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let overlay_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("overlay"),
            layout: &frame_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: overlay_uniform.as_entire_binding(),
            }],
        });
        let fxaa_layout = picture_layout(device, "fxaa");
        let fxaa_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("fxaa.wgsl"),
            source: wgpu::ShaderSource::Wgsl(FXAA_SHADER.into()),
        });
        let fxaa_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("fxaa"),
            bind_group_layouts: &[Some(&fxaa_layout)],
            immediate_size: 0,
        });
        let fxaa = fullscreen_pipeline(
            device,
            "fxaa",
            &fxaa_pipeline_layout,
            &fxaa_module,
            color_format,
            None,
            &[],
        );
        let linear_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("fxaa"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            color_format,
            antialias,
            sample_count,
            view_formats: downlevel.contains(wgpu::DownlevelFlags::VIEW_FORMATS),
            display_blit: std::sync::OnceLock::new(),
            fxaa_layout,
            fxaa,
            linear_sampler,
            mesh_textured,
            mesh_xray_textured,
            texture_sampler: device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some("base colour"),
                // Repeat, as glTF's default sampler says; linear within and between mip levels.
                address_mode_u: wgpu::AddressMode::Repeat,
                address_mode_v: wgpu::AddressMode::Repeat,
                mag_filter: wgpu::FilterMode::Linear,
                min_filter: wgpu::FilterMode::Linear,
                mipmap_filter: wgpu::MipmapFilterMode::Linear,
                // Print seen at a slant (the side of a box) stays legible.
                anisotropy_clamp: if downlevel.contains(wgpu::DownlevelFlags::ANISOTROPIC_FILTERING)
                {
                    8
                } else {
                    1
                },
                ..Default::default()
            }),
            texture_layout,
            max_texture_side: device.limits().max_texture_dimension_2d,
            frame_layout,
            edges_layout,
            mesh,
            mesh_xray,
            points,
            wireframe,
            edges,
            overlay,
            edges_uniform,
            overlay_uniform,
            overlay_group,
        }
    }

    /// The colour format pictures are drawn in.
    #[must_use]
    pub fn color_format(&self) -> wgpu::TextureFormat {
        self.color_format
    }

    /// Upload a model's buffers.
    #[must_use]
    pub fn upload(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        model: &SceneModel,
    ) -> GpuModel {
        let buffer = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                // wgpu refuses empty buffers: keep one word.
                contents: if contents.is_empty() {
                    &[0; 4]
                } else {
                    contents
                },
                usage,
            })
        };
        let vertex = wgpu::BufferUsages::VERTEX;
        let positions = buffer("positions", bytemuck::cast_slice(&model.positions), vertex);
        let normals = buffer("normals", bytemuck::cast_slice(&model.normals), vertex);
        let color_flag = buffer(
            "colour+flag",
            bytemuck::cast_slice(&model.color_flag),
            vertex,
        );
        let indices = (!model.indices.is_empty()).then(|| {
            buffer(
                "indices",
                bytemuck::cast_slice(&model.indices),
                wgpu::BufferUsages::INDEX,
            )
        });
        let uniform = |label: &str, size: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let frame = uniform("frame", std::mem::size_of::<FrameUniform>());
        let wire = uniform("wireframe", std::mem::size_of::<LinesUniform>());
        let group = |label: &str, buffer: &wgpu::Buffer| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &self.frame_layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: buffer.as_entire_binding(),
                }],
            })
        };
        let textures = model
            .texture
            .as_ref()
            .map(|t| self.upload_textures(device, queue, t));
        GpuModel {
            textures,
            frame_group: group("frame", &frame),
            wire_group: group("wireframe", &wire),
            frame,
            wire,
            positions,
            normals,
            color_flag,
            indices,
            index_count: model.indices.len() as u32,
            vertex_count: model.positions.len() as u32,
            has_normals: model.has_normals,
            has_colors: model.has_colors,
            has_measured_flag: model.has_measured_flag,
            edges: OnceLock::new(),
        }
    }

    /// Upload a model's images with their mipmaps (from the first level the device's size limit takes) and its
    /// texture coordinates.
    fn upload_textures(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        textures: &crate::texture::SurfaceTextures,
    ) -> GpuTextures {
        let uvs = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("texture coordinates"),
            contents: if textures.uvs.is_empty() {
                &[0; 8]
            } else {
                bytemuck::cast_slice(&textures.uvs)
            },
            usage: wgpu::BufferUsages::VERTEX,
        });
        let mut bytes = 0;
        let images = textures
            .images
            .iter()
            .map(|chain| {
                let chain = chain.as_ref()?;
                let first = chain.level_within(self.max_texture_side);
                let (width, height) = chain.level_size(first);
                let levels = &chain.levels[first..];
                bytes += levels.iter().map(|l| l.len() as u64).sum::<u64>();
                let texture = device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("base colour"),
                    size: wgpu::Extent3d {
                        width,
                        height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: levels.len() as u32,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba8UnormSrgb,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                });
                for (k, level) in levels.iter().enumerate() {
                    let (w, h) = chain.level_size(first + k);
                    queue.write_texture(
                        wgpu::TexelCopyTextureInfo {
                            texture: &texture,
                            mip_level: k as u32,
                            origin: wgpu::Origin3d::ZERO,
                            aspect: wgpu::TextureAspect::All,
                        },
                        level,
                        wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(4 * w),
                            rows_per_image: Some(h),
                        },
                        wgpu::Extent3d {
                            width: w,
                            height: h,
                            depth_or_array_layers: 1,
                        },
                    );
                }
                let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
                Some(device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("base colour"),
                    layout: &self.texture_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::TextureView(&view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::Sampler(&self.texture_sampler),
                        },
                    ],
                }))
            })
            .collect();
        GpuTextures {
            uvs,
            images,
            groups: textures.groups.clone(),
            bytes,
        }
    }

    /// Make the wireframe's edge buffer for a model (once; later calls do nothing).
    pub fn prepare_wireframe(&self, device: &wgpu::Device, gpu: &GpuModel, model: &SceneModel) {
        gpu.edges.get_or_init(|| {
            let edges = model.edges();
            let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("edges"),
                contents: if edges.is_empty() {
                    &[0; 4]
                } else {
                    bytemuck::cast_slice(&edges)
                },
                usage: wgpu::BufferUsages::INDEX,
            });
            (buffer, edges.len() as u32)
        });
    }

    /// Textures for pictures of `width` × `height` that a window shows through [`Targets::display_view`]: on a
    /// device without view formats, with a plain copy of the picture drawn after every frame.
    #[must_use]
    pub fn targets_for_display(&self, device: &wgpu::Device, width: u32, height: u32) -> Targets {
        let mut targets = self.targets(device, width, height);
        if !self.view_formats {
            let blit = self
                .display_blit
                .get_or_init(|| crate::blit::Blit::new(device, wgpu::TextureFormat::Rgba8Unorm));
            let copy = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("picture for the window"),
                size: targets.color.size(),
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                    | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            });
            targets.display_view = copy.create_view(&wgpu::TextureViewDescriptor::default());
            let group = blit.bind(device, &targets.color);
            targets.display = Some((copy, group));
        }
        targets
    }

    /// Textures for pictures of `width` × `height`.
    #[must_use]
    pub fn targets(&self, device: &wgpu::Device, width: u32, height: u32) -> Targets {
        let size = wgpu::Extent3d {
            width: width.max(1),
            height: height.max(1),
            depth_or_array_layers: 1,
        };
        // The picture can also be viewed without sRGB decoding: egui samples textures as sRGB-encoded bytes.
        // Devices that cannot reinterpret a texture's format (WebGL2) get the picture's own format.
        let plain = if self.view_formats {
            self.color_format.remove_srgb_suffix()
        } else {
            self.color_format
        };
        let texture =
            |label: &str, format: wgpu::TextureFormat, samples: u32, usage: wgpu::TextureUsages| {
                let view_formats: &[wgpu::TextureFormat] =
                    if format == self.color_format && samples == 1 && plain != format {
                        std::slice::from_ref(&plain)
                    } else {
                        &[]
                    };
                device.create_texture(&wgpu::TextureDescriptor {
                    label: Some(label),
                    size,
                    mip_level_count: 1,
                    sample_count: samples,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage,
                    view_formats,
                })
            };
        let attachment = wgpu::TextureUsages::RENDER_ATTACHMENT;
        let color = texture(
            "picture",
            self.color_format,
            1,
            attachment | wgpu::TextureUsages::COPY_SRC | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let normal_depth = texture(
            "normal+depth",
            NORMAL_DEPTH_FORMAT,
            self.sample_count,
            attachment | wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&wgpu::TextureViewDescriptor::default());
        // With FXAA the scene is drawn into its own texture, which the FXAA pass reads into the picture.
        let fxaa_source = (self.antialias == Antialias::Fxaa).then(|| {
            texture(
                "picture before FXAA",
                self.color_format,
                1,
                attachment | wgpu::TextureUsages::TEXTURE_BINDING,
            )
            .create_view(&wgpu::TextureViewDescriptor::default())
        });
        let fxaa_group = fxaa_source.as_ref().map(|view| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("fxaa"),
                layout: &self.fxaa_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::TextureView(view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::Sampler(&self.linear_sampler),
                    },
                ],
            })
        });
        let multisampled = self.sample_count > 1;
        let msaa = |label: &str, format| {
            multisampled.then(|| {
                texture(label, format, self.sample_count, attachment)
                    .create_view(&wgpu::TextureViewDescriptor::default())
            })
        };
        let edges_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("edges"),
            layout: &self.edges_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&normal_depth),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: self.edges_uniform.as_entire_binding(),
                },
            ],
        });
        Targets {
            size: (size.width, size.height),
            color_view: color.create_view(&wgpu::TextureViewDescriptor::default()),
            display_view: color.create_view(&wgpu::TextureViewDescriptor {
                format: Some(plain),
                ..Default::default()
            }),
            color,
            color_msaa: msaa("picture (multisampled)", self.color_format),
            display: None,
            normal_depth,
            depth: texture("depth", DEPTH_FORMAT, self.sample_count, attachment)
                .create_view(&wgpu::TextureViewDescriptor::default()),
            edges_group,
            fxaa_source,
            fxaa_group,
        }
    }

    /// Record one frame of `items` seen through `matrices` (the scene's frame) into `targets`, with `overlay`
    /// lines (scene frame) drawn on top.
    #[allow(
        clippy::too_many_lines,
        clippy::too_many_arguments,
        reason = "one frame's passes read best in order, in one place"
    )]
    pub fn draw(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        targets: &Targets,
        items: &[DrawItem<'_>],
        matrices: &Matrices,
        style: &Style,
        overlay: Option<(&wgpu::Buffer, u32)>,
    ) {
        let (_, clip_from_view) = matrices.to_f32();
        for item in items {
            let model = item.model;
            let view_from_model = (matrices.view_from_model * item.scene_from_model).as_mat4();
            // Planes are given in the scene's frame: bring them into the model's (p_scene = M p_model).
            let mut planes = [[0.0f32; 4]; MAX_CLIP_PLANES];
            for (slot, plane) in planes.iter_mut().zip(&style.clip_planes) {
                let normal = glam::DVec4::from(*plane);
                *slot = (item.scene_from_model.transpose() * normal)
                    .as_vec4()
                    .to_array();
            }
            let mut flags = 0;
            if style.vertex_colors && model.has_colors && item.color.is_none() {
                flags |= FLAG_VERTEX_COLORS;
            }
            if style.tint_reconstructed && model.has_measured_flag {
                flags |= FLAG_TINT_RECONSTRUCTED;
            }
            if style.flat {
                flags |= FLAG_FLAT;
            }
            if style.matcap {
                flags |= FLAG_MATCAP;
            }
            let see_through = style.xray || item.color.is_some_and(|c| c[3] < 1.0);
            if see_through {
                flags |= FLAG_XRAY;
            }
            if model.has_normals {
                flags |= FLAG_HAS_NORMALS;
            }
            if model.indices.is_none() {
                flags |= FLAG_POINTS;
            }
            let [r, g, b, a] = item.color.unwrap_or([
                style.base_color[0],
                style.base_color[1],
                style.base_color[2],
                0.25,
            ]);
            let uniform = FrameUniform {
                view_from_model: mat(view_from_model),
                clip_from_view: mat(clip_from_view),
                planes,
                counts: [
                    style.clip_planes.len().min(MAX_CLIP_PLANES) as u32,
                    flags,
                    0,
                    0,
                ],
                base_color: [r, g, b, if item.color.is_some() { a * 0.5 } else { a }],
                tint: [0.95, 0.45, 0.08, 0.75],
            };
            queue.write_buffer(&model.frame, 0, bytemuck::bytes_of(&uniform));
            let wire = LinesUniform {
                view_from_model: mat(view_from_model),
                clip_from_view: mat(clip_from_view),
                color: [0.02, 0.02, 0.02, 0.55],
                params: [2e-4, 0.0, 0.0, 0.0],
            };
            queue.write_buffer(&model.wire, 0, bytemuck::bytes_of(&wire));
        }
        let [br, bg, bb] = style.background.map(f64::from);
        let clear = |color: wgpu::Color| wgpu::Operations {
            load: wgpu::LoadOp::Clear(color),
            store: wgpu::StoreOp::Store,
        };
        // Where the scene and its edge lines go before the overlay: the picture itself, or (FXAA) the texture
        // the FXAA pass reads.
        let scene_view = targets.fxaa_source.as_ref().unwrap_or(&targets.color_view);
        let (color_view, color_resolve) = match &targets.color_msaa {
            Some(msaa) => (msaa, Some(scene_view)),
            None => (scene_view, None),
        };
        let (nd_view, nd_resolve) = (&targets.normal_depth, None);
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("scene"),
                color_attachments: &[
                    Some(wgpu::RenderPassColorAttachment {
                        view: color_view,
                        depth_slice: None,
                        resolve_target: color_resolve,
                        ops: clear(wgpu::Color {
                            r: br,
                            g: bg,
                            b: bb,
                            a: 1.0,
                        }),
                    }),
                    Some(wgpu::RenderPassColorAttachment {
                        view: nd_view,
                        depth_slice: None,
                        resolve_target: nd_resolve,
                        ops: clear(wgpu::Color::TRANSPARENT),
                    }),
                ],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &targets.depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            for item in items {
                let model = item.model;
                pass.set_bind_group(0, &model.frame_group, &[]);
                pass.set_vertex_buffer(0, model.positions.slice(..));
                pass.set_vertex_buffer(1, model.normals.slice(..));
                pass.set_vertex_buffer(2, model.color_flag.slice(..));
                let see_through = style.xray || item.color.is_some_and(|c| c[3] < 1.0);
                let plain = match &self.mesh_xray {
                    Some(xray) if see_through => xray,
                    _ => &self.mesh,
                };
                let textured = match &self.mesh_xray_textured {
                    Some(xray) if see_through => xray,
                    _ => &self.mesh_textured,
                };
                let textures = model
                    .textures
                    .as_ref()
                    .filter(|_| style.textures && item.color.is_none());
                if let Some(indices) = &model.indices {
                    pass.set_index_buffer(indices.slice(..), wgpu::IndexFormat::Uint32);
                    if let Some(textures) = textures {
                        pass.set_vertex_buffer(3, textures.uvs.slice(..));
                        for group in &textures.groups {
                            let range = group.first_index..group.first_index + group.index_count;
                            match group.image.and_then(|i| textures.images.get(i)?.as_ref()) {
                                Some(image) => {
                                    pass.set_pipeline(textured);
                                    pass.set_bind_group(1, image, &[]);
                                }
                                None => pass.set_pipeline(plain),
                            }
                            pass.draw_indexed(range, 0, 0..1);
                        }
                    } else {
                        pass.set_pipeline(plain);
                        pass.draw_indexed(0..model.index_count, 0, 0..1);
                    }
                } else {
                    pass.set_pipeline(&self.points);
                    pass.draw(0..model.vertex_count, 0..1);
                }
            }
            if style.wireframe
                && let Some(wireframe) = &self.wireframe
            {
                pass.set_pipeline(wireframe);
                for item in items {
                    if let Some((edges, count)) = item.model.edges.get() {
                        pass.set_bind_group(0, &item.model.wire_group, &[]);
                        pass.set_vertex_buffer(0, item.model.positions.slice(..));
                        pass.set_index_buffer(edges.slice(..), wgpu::IndexFormat::Uint32);
                        pass.draw_indexed(0..*count, 0, 0..1);
                    }
                }
            }
        }
        let after = |label| wgpu::RenderPassDescriptor {
            label: Some(label),
            color_attachments: &[],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        };
        let load = |view| {
            [Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Load,
                    store: wgpu::StoreOp::Store,
                },
            })]
        };
        // Outlines need surfaces: between the points of a cloud every gap would be an edge.
        let surfaces = items.iter().any(|item| item.model.indices.is_some());
        if style.edges && surfaces {
            let uniform = EdgesUniform {
                // Outline where depth jumps by 2 %; creases where normals turn by more than about 35°.
                params: [0.02, 0.18, 0.85, 0.0],
                color: [0.0, 0.0, 0.0, 1.0],
            };
            queue.write_buffer(&self.edges_uniform, 0, bytemuck::bytes_of(&uniform));
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                color_attachments: &load(scene_view),
                ..after("edges")
            });
            pass.set_pipeline(&self.edges);
            pass.set_bind_group(0, &targets.edges_group, &[]);
            pass.draw(0..3, 0..1);
        }
        if let Some(group) = &targets.fxaa_group {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &targets.color_view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..after("fxaa")
            });
            pass.set_pipeline(&self.fxaa);
            pass.set_bind_group(0, group, &[]);
            pass.draw(0..3, 0..1);
        }
        if let Some((buffer, count)) = overlay.filter(|(_, count)| *count > 0) {
            let (view_from_model, clip_from_view) = matrices.to_f32();
            let uniform = LinesUniform {
                view_from_model: mat(view_from_model),
                clip_from_view: mat(clip_from_view),
                color: [1.0; 4],
                params: [0.0; 4],
            };
            queue.write_buffer(&self.overlay_uniform, 0, bytemuck::bytes_of(&uniform));
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                color_attachments: &load(&targets.color_view),
                ..after("overlay")
            });
            pass.set_pipeline(&self.overlay);
            pass.set_bind_group(0, &self.overlay_group, &[]);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..count, 0..1);
        }
        if let (Some(blit), Some((_, group))) = (self.display_blit.get(), &targets.display) {
            blit.record(encoder, group, &targets.display_view);
        }
    }

    /// A vertex buffer of overlay lines (two vertices per segment).
    #[must_use]
    pub fn overlay_buffer(
        device: &wgpu::Device,
        lines: &[LineVertex],
    ) -> Option<(wgpu::Buffer, u32)> {
        (!lines.is_empty()).then(|| {
            let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("overlay lines"),
                contents: bytemuck::cast_slice(lines),
                usage: wgpu::BufferUsages::VERTEX,
            });
            (buffer, lines.len() as u32)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shader parses and validates with naga, the compiler wgpu uses on every backend.
    #[test]
    fn shaders_validate_with_naga() {
        let multisampled = edges_shader(true);
        for (name, source) in [
            ("mesh.wgsl", MESH_SHADER),
            ("edges.wgsl", EDGES_SHADER),
            ("edges.wgsl, multisampled", multisampled.as_str()),
            ("lines.wgsl", LINES_SHADER),
            ("fxaa.wgsl", FXAA_SHADER),
        ] {
            let module = naga::front::wgsl::parse_str(source)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    #[test]
    fn uniform_layouts_match_the_shaders() {
        // The WGSL structs: two mat4x4 (128 bytes), four planes (64), counts, base colour, tint (48).
        assert_eq!(std::mem::size_of::<FrameUniform>(), 240);
        assert_eq!(std::mem::size_of::<LinesUniform>(), 160);
        assert_eq!(std::mem::size_of::<EdgesUniform>(), 32);
    }
}
