//! Reading glTF 2.0 (GLB, or `.gltf` with embedded or neighbouring buffers) into the codec's types.
//!
//! Every node's transform is applied, so the result is the scene as a viewer would draw it.
//! Geometry the codec types cannot hold (lines, textures, skins, morph targets) is listed in
//! [`Model::notes`], never dropped silently. Every offset, length and count from the file is checked
//! against the bytes that are really there before anything is allocated, so a lying file costs
//! an error, not memory.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::manifest::{MANIFEST_FORMAT_VERSION, Manifest, sha256_hex};
use crate::{CodecError, Mesh, PointCloud};

/// Largest number of bytes one meshopt-compressed view may expand to per compressed byte.
/// The vertex codec's densest case is 2 header bits per 16 bytes (a 64:1 ratio); this leaves room.
const MAX_MESHOPT_EXPANSION: usize = 256;

/// A glTF scene flattened into one mesh and one point cloud.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// `glb` or `gltf`.
    pub format: &'static str,
    /// All triangle primitives, transformed into one frame.
    pub mesh: Mesh,
    /// All point primitives, transformed into one frame.
    pub points: PointCloud,
    /// The exhibit manifest from `asset.extras.exhibit`, when the file carries one.
    pub manifest: Option<Manifest>,
    /// Whether the binary chunk still has the hash the manifest recorded, when both exist.
    pub bin_sha256_matches: Option<bool>,
    /// Vertex attributes found, by glTF name, sorted.
    pub attributes: Vec<String>,
    /// What was in the file but is not in `mesh` or `points`, one sentence each.
    pub notes: Vec<String>,
    /// Levels of detail the file offers (1 when it has only the model); see [`read_model_level_bytes`].
    pub levels: usize,
    /// The level that was read: 0 is the model itself, higher is coarser.
    pub level: usize,
}

/// A glTF scene decoded for a GPU: every triangle or point primitive with its vertex data as stored
/// (quantized, strided) and its node's world matrix. Nothing is converted or flattened, so this is as fast
/// as the meshopt decoder itself; [`read_model`] is the converting, verifying path.
#[derive(Clone, Debug, Default)]
pub struct PackedModel {
    /// World position of the glTF origin, in metres (from the manifest; zero for other files).
    pub origin_m: [f64; 3],
    /// The exhibit manifest, when the file carries one.
    pub manifest: Option<Manifest>,
    /// Triangle primitives (strips and fans unrolled) and point primitives.
    pub primitives: Vec<PackedPrimitive>,
    /// What was in the file but is not here, one sentence each.
    pub notes: Vec<String>,
    /// Levels of detail the file offers (1 when it has only the model).
    pub levels: usize,
    /// The level that was read: 0 is the model itself, higher is coarser.
    pub level: usize,
}

/// One primitive, ready for vertex buffers.
#[derive(Clone, Debug)]
pub struct PackedPrimitive {
    /// Column-major matrix from the primitive's coordinates to the scene's (glTF metres).
    pub world_from_local: [f64; 16],
    /// `true` for points, `false` for triangles.
    pub points: bool,
    /// Three indices per triangle, or one per point.
    pub indices: Vec<u32>,
    /// POSITION as stored.
    pub positions: PackedAttribute,
    /// NORMAL as stored.
    pub normals: Option<PackedAttribute>,
    /// `COLOR_0` as stored.
    pub colors: Option<PackedAttribute>,
    /// `_MEASURED` as stored.
    pub measured: Option<PackedAttribute>,
}

/// One vertex attribute exactly as the file stores it, tightly packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedAttribute {
    /// glTF component type (5120 byte … 5126 float).
    pub component_type: u32,
    /// Components per element.
    pub components: usize,
    /// Whether integer components map to 0..1 or -1..1.
    pub normalized: bool,
    /// Elements.
    pub count: usize,
    /// Bytes from one element to the next in `bytes`.
    pub stride: usize,
    /// `count` elements at `stride`, little-endian.
    pub bytes: Vec<u8>,
}

/// Decode a glTF document for drawing: parse, decompress, no conversion. Same checks as [`read_model_bytes`].
pub fn read_packed_bytes(bytes: &[u8], base_dir: Option<&Path>) -> Result<PackedModel, CodecError> {
    read_packed_level_bytes(bytes, base_dir, 0)
}

/// Like [`read_packed_bytes`], for one level of detail (`MSFT_lod`): 0 is the model, higher is coarser;
/// a level beyond the coarsest the file has reads the coarsest. Only that level's views are decoded.
pub fn read_packed_level_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    level: usize,
) -> Result<PackedModel, CodecError> {
    let mut reader = open_document(bytes, base_dir)?;
    reader.level = level;
    reader.read_packed()
}

/// The container, the JSON and the buffers of a glTF document: what both readers start from.
fn open_document<'a>(bytes: &'a [u8], base_dir: Option<&Path>) -> Result<Reader<'a>, CodecError> {
    let (root, bin, format) = parse_root(bytes)?;
    Reader::new(root, bin, base_dir, format)
}

/// The document's JSON (from a GLB's JSON chunk, or the whole `.gltf`), its binary chunk and its format.
fn parse_root(bytes: &[u8]) -> Result<(Root, Option<&[u8]>, &'static str), CodecError> {
    let (json_bytes, bin, format) = if crate::glb::is_glb(bytes) {
        let chunks = crate::glb::parse_glb(bytes)?;
        (chunks.json, chunks.bin, "glb")
    } else {
        (bytes, None, "gltf")
    };
    let root: Root = serde_json::from_slice(json_bytes).map_err(|e| CodecError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
        path: PathBuf::new(),
    })?;
    Ok((root, bin, format))
}

/// The exhibit manifest a glTF document carries, from its JSON alone: no buffer is read and no geometry
/// decoded (what a client needs to find a model's raw inputs). `Ok(None)` when it carries none; an unreadable
/// or too new manifest is an error saying so.
pub fn read_manifest_bytes(bytes: &[u8]) -> Result<Option<Manifest>, CodecError> {
    let (root, ..) = parse_root(bytes)?;
    match manifest_of(&root) {
        (Some(manifest), _) => Ok(Some(manifest)),
        (None, None) => Ok(None),
        (None, Some(reason)) => Err(CodecError::Gltf {
            pointer: "/asset/extras/exhibit".into(),
            reason,
            path: PathBuf::new(),
        }),
    }
}

/// How many bytes from the start of a GLB hold everything level `level` of detail needs: the JSON chunk and
/// the binary ranges of every buffer view its primitives use (a level beyond the coarsest means the
/// coarsest). A viewer downloading the file can draw that level as soon as this many bytes have arrived,
/// and exhibit writes the coarsest level first. `None` while `prefix` does not yet hold the whole JSON
/// chunk, or when the level reads anything but the GLB's own binary chunk.
#[must_use]
pub fn level_prefix_len(prefix: &[u8], level: usize) -> Option<usize> {
    let word = |at: usize| -> Option<usize> {
        let b = prefix.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if !crate::glb::is_glb(prefix) || word(16)? != 0x4E4F_534A {
        return None;
    }
    let json_len = word(12)?;
    let json = prefix.get(20..20usize.checked_add(json_len)?)?;
    let bin_start = 20 + json_len + 8;
    let root: Root = serde_json::from_slice(json).ok()?;
    if root.buffers.first().is_none_or(|b| b.uri.is_some()) {
        return None;
    }
    let reader = Reader {
        root,
        buffers: Vec::new(),
        decoded_views: BTreeMap::new(),
        notes: Vec::new(),
        format: "glb",
        level,
        base_dir: None,
        images_read: BTreeMap::new(),
        images: Vec::new(),
    };
    let root = &reader.root;
    let mut end = bin_start;
    for (node, _) in reader.scene_nodes().ok()? {
        let Some(mesh) = root.nodes.get(node).and_then(|n| n.mesh) else {
            continue;
        };
        for primitive in &root.meshes.get(mesh)?.primitives {
            for &accessor in primitive.attributes.values().chain(&primitive.indices) {
                let accessor = root.accessors.get(accessor)?;
                let sparse = accessor
                    .sparse
                    .iter()
                    .flat_map(|s| [s.indices.buffer_view, s.values.buffer_view]);
                for view in accessor.buffer_view.into_iter().chain(sparse) {
                    let view = root.buffer_views.get(view)?;
                    let meshopt = view
                        .extensions
                        .as_ref()
                        .and_then(|e| e.ext_meshopt.as_ref().or(e.khr_meshopt.as_ref()));
                    let (buffer, offset, length) = match meshopt {
                        Some(m) => (m.buffer, m.byte_offset, m.byte_length),
                        None => (view.buffer, view.byte_offset, view.byte_length),
                    };
                    if buffer != 0 {
                        return None;
                    }
                    end = end.max(bin_start.checked_add(offset)?.checked_add(length)?);
                }
            }
            // The level's texture image (the encoder writes it after the level's streams).
            let image_view = primitive
                .material
                .and_then(|m| root.base_color_info(m))
                .and_then(|info| root.textures.get(info.index)?.image())
                .and_then(|image| root.images.get(image)?.buffer_view);
            if let Some(view) = image_view {
                let view = root.buffer_views.get(view)?;
                if view.buffer != 0 {
                    return None;
                }
                end = end.max(
                    bin_start
                        .checked_add(view.byte_offset)?
                        .checked_add(view.byte_length)?,
                );
            }
        }
    }
    Some(end)
}

/// Read a `.glb` or `.gltf` file; buffers named by relative URIs are read from the file's folder.
pub fn read_model(path: &Path) -> Result<Model, CodecError> {
    let bytes = fs_err::read(path).map_err(|source| CodecError::Io {
        source,
        path: path.to_path_buf(),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    read_model_bytes(&bytes, Some(&base)).map_err(|e| e.with_path(path))
}

/// Read a glTF document from bytes. External buffers need `base_dir`; without it they are an error.
pub fn read_model_bytes(bytes: &[u8], base_dir: Option<&Path>) -> Result<Model, CodecError> {
    read_model_level_bytes(bytes, base_dir, 0)
}

/// Like [`read_model_bytes`], for one level of detail (`MSFT_lod`): 0 is the model, higher is coarser;
/// a level beyond the coarsest the file has reads the coarsest.
pub fn read_model_level_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    level: usize,
) -> Result<Model, CodecError> {
    let mut reader = open_document(bytes, base_dir)?;
    reader.level = level;
    reader.read()
}

/// The manifest in `asset.extras.exhibit`, or a note saying why it cannot be read.
fn manifest_of(root: &Root) -> (Option<Manifest>, Option<String>) {
    let Some(value) = root
        .asset
        .as_ref()
        .and_then(|a| a.extras.as_ref())
        .and_then(|e| e.get("exhibit"))
    else {
        return (None, None);
    };
    match serde_json::from_value::<Manifest>(value.clone()) {
        Ok(m) if m.format_version > MANIFEST_FORMAT_VERSION => {
            let note = format!(
                "manifest version {} is newer than this software reads ({MANIFEST_FORMAT_VERSION})",
                m.format_version
            );
            (None, Some(note))
        }
        Ok(m) => (Some(m), None),
        Err(e) => (
            None,
            Some(format!(
                "asset.extras.exhibit is not a readable manifest: {e}"
            )),
        ),
    }
}

// ---- The document, as far as geometry needs it. Unknown members are ignored, as glTF requires. ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Root {
    asset: Option<Asset>,
    #[serde(default)]
    extensions_required: Vec<String>,
    #[serde(default)]
    buffers: Vec<Buffer>,
    #[serde(default)]
    buffer_views: Vec<BufferView>,
    #[serde(default)]
    accessors: Vec<Accessor>,
    #[serde(default)]
    meshes: Vec<MeshDef>,
    #[serde(default)]
    nodes: Vec<Node>,
    #[serde(default)]
    scenes: Vec<Scene>,
    scene: Option<usize>,
    #[serde(default)]
    images: Vec<ImageDef>,
    #[serde(default)]
    textures: Vec<TextureDef>,
    #[serde(default)]
    materials: Vec<MaterialDef>,
    #[serde(default)]
    skins: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageDef {
    uri: Option<String>,
    buffer_view: Option<usize>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct TextureDef {
    source: Option<usize>,
    extensions: Option<TextureExtensions>,
}

impl TextureDef {
    /// The image it samples: its WebP source when it has one, else its own.
    fn image(&self) -> Option<usize> {
        self.extensions
            .as_ref()
            .and_then(|e| e.webp.as_ref())
            .map(|w| w.source)
            .or(self.source)
    }
}

impl Root {
    /// A material's base-colour texture reference, when it has one.
    fn base_color_info(&self, material: usize) -> Option<&TextureInfo> {
        self.materials
            .get(material)?
            .pbr_metallic_roughness
            .as_ref()?
            .base_color_texture
            .as_ref()
    }
}

/// Sources in other formats; exhibit reads WebP, and names Basis (KTX2) sources it cannot decode.
#[derive(Deserialize)]
struct TextureExtensions {
    #[serde(rename = "EXT_texture_webp")]
    webp: Option<TextureSource>,
    #[serde(rename = "KHR_texture_basisu")]
    basisu: Option<TextureSource>,
}

#[derive(Deserialize)]
struct TextureSource {
    source: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialDef {
    pbr_metallic_roughness: Option<PbrDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PbrDef {
    base_color_texture: Option<TextureInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextureInfo {
    index: usize,
    #[serde(default)]
    tex_coord: usize,
    extensions: Option<TextureInfoExtensions>,
}

#[derive(Deserialize)]
struct TextureInfoExtensions {
    #[serde(rename = "KHR_texture_transform")]
    transform: Option<TextureTransform>,
}

/// `KHR_texture_transform`: texture coordinates are offset, rotated and scaled before sampling.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextureTransform {
    #[serde(default)]
    offset: [f64; 2],
    #[serde(default)]
    rotation: f64,
    #[serde(default = "unit_scale")]
    scale: [f64; 2],
    tex_coord: Option<usize>,
}

/// A primitive's texture coordinates and the model's image they sample.
type PrimitiveTexture = (Option<Vec<[f32; 2]>>, u32);

/// A material's base-colour texture as read: the model's image number, the texture-coordinate set, the transform.
type BaseColorTexture = (u32, usize, Option<TextureTransform>);

fn unit_scale() -> [f64; 2] {
    [1.0, 1.0]
}

impl TextureTransform {
    /// The coordinates the texture is sampled at: translation × rotation × scale, as the extension defines.
    fn apply(&self, uv: [f64; 2]) -> [f64; 2] {
        let (sin, cos) = self.rotation.sin_cos();
        let [u, v] = [uv[0] * self.scale[0], uv[1] * self.scale[1]];
        [
            cos * u + sin * v + self.offset[0],
            -sin * u + cos * v + self.offset[1],
        ]
    }
}

#[derive(Deserialize)]
struct Asset {
    version: Option<String>,
    extras: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Buffer {
    uri: Option<String>,
    byte_length: usize,
    extensions: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BufferView {
    buffer: usize,
    #[serde(default)]
    byte_offset: usize,
    byte_length: usize,
    byte_stride: Option<usize>,
    extensions: Option<ViewExtensions>,
}

#[derive(Deserialize)]
struct ViewExtensions {
    #[serde(rename = "EXT_meshopt_compression")]
    ext_meshopt: Option<MeshoptView>,
    #[serde(rename = "KHR_meshopt_compression")]
    khr_meshopt: Option<MeshoptView>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MeshoptView {
    buffer: usize,
    #[serde(default)]
    byte_offset: usize,
    byte_length: usize,
    byte_stride: usize,
    count: usize,
    mode: String,
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Accessor {
    buffer_view: Option<usize>,
    #[serde(default)]
    byte_offset: usize,
    component_type: u32,
    #[serde(default)]
    normalized: bool,
    count: usize,
    #[serde(rename = "type")]
    kind: String,
    sparse: Option<Sparse>,
}

#[derive(Deserialize)]
struct Sparse {
    count: usize,
    indices: SparseIndices,
    values: SparseValues,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SparseIndices {
    buffer_view: usize,
    #[serde(default)]
    byte_offset: usize,
    component_type: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SparseValues {
    buffer_view: usize,
    #[serde(default)]
    byte_offset: usize,
}

#[derive(Deserialize)]
struct MeshDef {
    #[serde(default)]
    primitives: Vec<Primitive>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Primitive {
    #[serde(default)]
    attributes: BTreeMap<String, usize>,
    indices: Option<usize>,
    #[serde(default = "triangles_mode")]
    mode: u32,
    #[serde(default)]
    targets: Vec<serde_json::Value>,
    material: Option<usize>,
}

fn triangles_mode() -> u32 {
    4
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    children: Vec<usize>,
    #[serde(default)]
    extensions: Option<NodeExtensions>,
    mesh: Option<usize>,
    matrix: Option<[f32; 16]>,
    translation: Option<[f32; 3]>,
    rotation: Option<[f32; 4]>,
    scale: Option<[f32; 3]>,
}

#[derive(Deserialize)]
struct NodeExtensions {
    #[serde(rename = "MSFT_lod")]
    msft_lod: Option<MsftLod>,
}

/// Coarser stand-ins for a node, finest first.
#[derive(Deserialize)]
struct MsftLod {
    #[serde(default)]
    ids: Vec<usize>,
}

#[derive(Deserialize)]
struct Scene {
    #[serde(default)]
    nodes: Vec<usize>,
}

/// Extensions whose absence changes only appearance, never geometry: safe to read without.
fn extension_is_appearance_only(name: &str) -> bool {
    [
        "KHR_materials_",
        "KHR_texture_",
        "EXT_texture_",
        "KHR_lights_punctual",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

const SUPPORTED_REQUIRED: [&str; 3] = [
    "EXT_meshopt_compression",
    "KHR_meshopt_compression",
    "KHR_mesh_quantization",
];

/// A sparse accessor's count, index view, index offset, index type, value view and value offset.
type SparseSpec = (usize, usize, usize, u32, usize, usize);

/// How one accessor's elements are laid out.
#[derive(Clone, Copy)]
struct Layout {
    count: usize,
    components: usize,
    component_size: usize,
    component_type: u32,
    normalized: bool,
}

/// Column-major 4x4 matrix in f64.
type Matrix = [f64; 16];

const IDENTITY: Matrix = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

struct Reader<'a> {
    root: Root,
    buffers: Vec<Option<std::borrow::Cow<'a, [u8]>>>,
    decoded_views: BTreeMap<usize, DecodedView>,
    notes: Vec<String>,
    format: &'static str,
    /// Level of detail to read (0: the scene itself).
    level: usize,
    /// The folder external files are read from (none: only what the document itself holds).
    base_dir: Option<PathBuf>,
    /// Images read so far: the glTF image number → its place in the model's images (or why not).
    images_read: BTreeMap<usize, Option<u32>>,
    /// The images the model's texturing holds, in order of first use.
    images: Vec<crate::texture::TextureImage>,
}

fn gltf_error(pointer: impl Into<String>, reason: impl Into<String>) -> CodecError {
    CodecError::Gltf {
        pointer: pointer.into(),
        reason: reason.into(),
        path: PathBuf::new(),
    }
}

impl<'a> Reader<'a> {
    fn new(
        root: Root,
        bin: Option<&'a [u8]>,
        base_dir: Option<&Path>,
        format: &'static str,
    ) -> Result<Self, CodecError> {
        let version = root.asset.as_ref().and_then(|a| a.version.as_deref());
        match version {
            None => {
                return Err(gltf_error(
                    "/asset/version",
                    "missing: the document does not say it is glTF 2.0",
                ));
            }
            Some(v) if !v.starts_with("2.") => {
                return Err(gltf_error(
                    "/asset/version",
                    format!("glTF version {v:?} is not 2.x"),
                ));
            }
            Some(_) => {}
        }
        for name in &root.extensions_required {
            if !SUPPORTED_REQUIRED.contains(&name.as_str()) && !extension_is_appearance_only(name) {
                return Err(gltf_error(
                    "/extensionsRequired",
                    format!("required extension {name} is not supported"),
                ));
            }
        }
        let mut buffers = Vec::with_capacity(root.buffers.len());
        for (i, buffer) in root.buffers.iter().enumerate() {
            let pointer = format!("/buffers/{i}");
            let is_fallback = buffer
                .extensions
                .as_ref()
                .and_then(|e| {
                    e.get("EXT_meshopt_compression")
                        .or_else(|| e.get("KHR_meshopt_compression"))
                })
                .and_then(|e| e.get("fallback"))
                .and_then(serde_json::Value::as_bool)
                == Some(true);
            let data: Option<std::borrow::Cow<'a, [u8]>> = match (&buffer.uri, i, bin) {
                (None, 0, Some(bin)) => Some(bin.into()),
                (None, _, _) if is_fallback => None,
                (None, _, _) => {
                    return Err(gltf_error(
                        pointer,
                        "buffer has no uri and is not the GLB binary chunk",
                    ));
                }
                (Some(uri), _, _) => Some(
                    load_uri(uri, base_dir)
                        .map_err(|reason| gltf_error(&pointer, reason))?
                        .into(),
                ),
            };
            if let Some(data) = &data
                && data.len() < buffer.byte_length
            {
                return Err(gltf_error(
                    pointer,
                    format!(
                        "byteLength {} but only {} bytes of data",
                        buffer.byte_length,
                        data.len()
                    ),
                ));
            }
            buffers.push(data);
        }
        Ok(Self {
            root,
            buffers,
            decoded_views: BTreeMap::new(),
            notes: Vec::new(),
            format,
            level: 0,
            base_dir: base_dir.map(Path::to_path_buf),
            images_read: BTreeMap::new(),
            images: Vec::new(),
        })
    }

    /// The base-colour texture of a material: the model's image number (each glTF image read once), the
    /// texture-coordinate set it samples and the transform of its coordinates. `None`, with a note, when the
    /// material has none or its image cannot be read: the primitive is then drawn untextured.
    fn base_color_texture(
        &mut self,
        material: usize,
        notes: &mut Vec<String>,
    ) -> Option<BaseColorTexture> {
        let info = self.root.base_color_info(material)?;
        let transform = info.extensions.as_ref().and_then(|e| e.transform);
        let set = transform
            .and_then(|t| t.tex_coord)
            .unwrap_or(info.tex_coord);
        let pointer = format!("/materials/{material}/pbrMetallicRoughness/baseColorTexture");
        let Some(texture) = self.root.textures.get(info.index) else {
            notes.push(format!(
                "{pointer}: texture {} does not exist: untextured",
                info.index
            ));
            return None;
        };
        let Some(source) = texture.image() else {
            let why = if texture
                .extensions
                .as_ref()
                .is_some_and(|e| e.basisu.is_some())
            {
                "its only image is KTX2 (KHR_texture_basisu), which exhibit does not decode"
            } else {
                "the texture names no image"
            };
            notes.push(format!("{pointer}: {why}: untextured"));
            return None;
        };
        let image = if let Some(read) = self.images_read.get(&source) {
            (*read)?
        } else {
            let number = match self.load_image(source) {
                Ok(image) => {
                    self.images.push(image);
                    Some(self.images.len() as u32 - 1)
                }
                Err(reason) => {
                    notes.push(format!("/images/{source}: {reason}: untextured"));
                    None
                }
            };
            self.images_read.insert(source, number);
            number?
        };
        Some((image, set, transform))
    }

    /// A primitive's texture coordinates (transformed as its material says) and the model's image it samples;
    /// `(None, NO_IMAGE)` when it has no readable texture, with a note saying why.
    fn texture_coordinates(
        &mut self,
        material: Option<usize>,
        mode: u32,
        attributes: &BTreeMap<String, usize>,
        pointer: &str,
        builder: &mut SceneBuilder,
    ) -> Result<PrimitiveTexture, CodecError> {
        let texture = match material {
            Some(m) if mode != 0 => self.base_color_texture(m, &mut builder.notes),
            _ => None,
        };
        let Some((image, set, transform)) = texture else {
            return Ok((None, crate::texture::NO_IMAGE));
        };
        let name = format!("TEXCOORD_{set}");
        let Some(&accessor) = attributes.get(&name) else {
            builder.notes.push(format!(
                "{pointer}: its texture samples {name}, which it lacks: untextured"
            ));
            return Ok((None, crate::texture::NO_IMAGE));
        };
        let uvs = self.read_mapped::<2, [f32; 2]>(accessor, &name, |uv| {
            transform.map_or(uv, |t| t.apply(uv)).map(|c| c as f32)
        })?;
        if let Some(bad) = uvs.iter().position(|uv| !uv.iter().all(|c| c.is_finite())) {
            return Err(gltf_error(
                format!("{pointer}/attributes/{name}"),
                format!("texture coordinate {bad} is not finite"),
            ));
        }
        Ok((Some(uvs), image))
    }

    /// One image's bytes (from a buffer view, a data URI or a file beside the model), header checked.
    fn load_image(&self, image: usize) -> Result<crate::texture::TextureImage, String> {
        let def = self
            .root
            .images
            .get(image)
            .ok_or("the image does not exist")?;
        let bytes: Vec<u8> = match (def.buffer_view, &def.uri) {
            (Some(view), _) => self.view_bytes(view).map_err(|e| e.to_string())?.to_vec(),
            (None, Some(uri)) => load_uri(uri, self.base_dir.as_deref())?,
            (None, None) => return Err("the image has neither a bufferView nor a uri".into()),
        };
        let name = def
            .name
            .clone()
            .or_else(|| {
                def.uri
                    .as_deref()
                    .filter(|u| !u.starts_with("data:"))
                    .map(|u| u.rsplit('/').next().unwrap_or(u).to_owned())
            })
            .unwrap_or_else(|| format!("image {image}"));
        crate::texture::TextureImage::from_bytes(&name, bytes.into())
    }

    fn read_packed(mut self) -> Result<PackedModel, CodecError> {
        let (manifest, manifest_note) = self.manifest();
        self.notes.extend(manifest_note);
        let mut primitives = Vec::new();
        for (node, world) in self.scene_nodes()? {
            let Some(mesh_index) = self.root.nodes[node].mesh else {
                continue;
            };
            let Some(mesh) = self.root.meshes.get(mesh_index) else {
                return Err(gltf_error(
                    format!("/nodes/{node}/mesh"),
                    format!("mesh {mesh_index} does not exist"),
                ));
            };
            for p in 0..mesh.primitives.len() {
                let pointer = format!("/meshes/{mesh_index}/primitives/{p}");
                let prim = &self.root.meshes[mesh_index].primitives[p];
                let (mode, attributes, indices) =
                    (prim.mode, prim.attributes.clone(), prim.indices);
                if matches!(mode, 1..=3) || mode > 6 {
                    self.notes
                        .push(format!("{pointer}: primitive mode {mode} not read"));
                    continue;
                }
                let Some(&position_accessor) = attributes.get("POSITION") else {
                    self.notes
                        .push(format!("{pointer}: no POSITION attribute, skipped"));
                    continue;
                };
                let positions = self.packed_attribute(position_accessor)?;
                let mut optional = |name: &str| -> Result<Option<PackedAttribute>, CodecError> {
                    let Some(&a) = attributes.get(name) else {
                        return Ok(None);
                    };
                    let packed = self.packed_attribute(a)?;
                    if packed.count != positions.count {
                        return Err(gltf_error(
                            format!("{pointer}/attributes/{name}"),
                            format!("{} values for {} positions", packed.count, positions.count),
                        ));
                    }
                    Ok(Some(packed))
                };
                let (normals, colors, measured) = (
                    optional("NORMAL")?,
                    optional("COLOR_0")?,
                    optional("_MEASURED")?,
                );
                let indices = match indices {
                    Some(a) => self.read_indices(a)?,
                    None => (0..positions.count as u32).collect(),
                };
                if indices
                    .iter()
                    .copied()
                    .max()
                    .is_some_and(|m| m as usize >= positions.count)
                {
                    return Err(gltf_error(
                        format!("{pointer}/indices"),
                        format!("an index is not below the vertex count {}", positions.count),
                    ));
                }
                let indices = if mode == 0 {
                    indices
                } else {
                    to_triangle_list(mode, indices)
                };
                primitives.push(PackedPrimitive {
                    world_from_local: world,
                    points: mode == 0,
                    indices,
                    positions,
                    normals,
                    colors,
                    measured,
                });
            }
        }
        let origin_m = manifest.as_ref().map_or([0.0; 3], |m| m.origin_m);
        let levels = self.level_count();
        Ok(PackedModel {
            origin_m,
            manifest,
            primitives,
            notes: self.notes,
            levels,
            level: self.level.min(levels - 1),
        })
    }

    /// An attribute's elements as stored, tightly packed; a decoded view that is exactly the accessor is
    /// moved rather than copied.
    fn packed_attribute(&mut self, accessor: usize) -> Result<PackedAttribute, CodecError> {
        let pointer = format!("/accessors/{accessor}");
        let Some(a) = self.root.accessors.get(accessor) else {
            return Err(gltf_error(pointer, "accessor does not exist"));
        };
        let components = components_of(&a.kind)
            .ok_or_else(|| gltf_error(&pointer, format!("unknown type {:?}", a.kind)))?;
        let (component_type, normalized, count, sparse, view) = (
            a.component_type,
            a.normalized,
            a.count,
            a.sparse.is_some(),
            a.buffer_view,
        );
        let size = component_size(component_type).ok_or_else(|| {
            gltf_error(&pointer, format!("unknown component type {component_type}"))
        })?;
        let element = components * size;
        if let (Some(view), false) = (view, sparse) {
            self.prepare_view(view)?;
            let (layout, byte_offset, stride) = match components {
                1 => self.element_layout::<1>(accessor, "attribute")?,
                2 => self.element_layout::<2>(accessor, "attribute")?,
                3 => self.element_layout::<3>(accessor, "attribute")?,
                _ => self.element_layout::<4>(accessor, "attribute")?,
            };
            let whole_view = byte_offset == 0
                && self
                    .decoded_views
                    .get(&view)
                    .is_some_and(|d| d.byte_len == count * stride);
            if whole_view && let Some(decoded) = self.decoded_views.remove(&view) {
                let bytes = bytemuck::allocation::try_cast_vec::<u32, u8>(decoded.words)
                    .unwrap_or_else(|(_, words)| bytemuck::cast_slice(&words).to_vec());
                let mut bytes = bytes;
                bytes.truncate(decoded.byte_len);
                return Ok(PackedAttribute {
                    component_type,
                    components,
                    normalized,
                    count,
                    stride,
                    bytes,
                });
            }
            let data = self.view_bytes(view)?;
            let region = checked_region(data, byte_offset, stride, &layout)
                .map_err(|r| gltf_error(&pointer, r))?;
            let mut bytes = Vec::with_capacity(count * element);
            for chunk in region.chunks(stride).take(count) {
                bytes.extend_from_slice(&chunk[..element]);
            }
            return Ok(PackedAttribute {
                component_type,
                components,
                normalized,
                count,
                stride: element,
                bytes,
            });
        }
        // Sparse or view-less: rare and small; go through the converting reader and store floats.
        let values: Vec<f64> = match components {
            1 => self
                .read_elements::<1>(accessor, "attribute")?
                .into_flattened(),
            2 => self
                .read_elements::<2>(accessor, "attribute")?
                .into_flattened(),
            3 => self
                .read_elements::<3>(accessor, "attribute")?
                .into_flattened(),
            _ => self
                .read_elements::<4>(accessor, "attribute")?
                .into_flattened(),
        };
        let bytes = values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect();
        Ok(PackedAttribute {
            component_type: 5126,
            components,
            normalized: false,
            count,
            stride: 4 * components,
            bytes,
        })
    }

    fn read(mut self) -> Result<Model, CodecError> {
        let (manifest, manifest_note) = self.manifest();
        if let Some(note) = manifest_note {
            self.notes.push(note);
        }
        let origin_m = manifest.as_ref().map_or([0.0; 3], |m| m.origin_m);
        let mut builder = SceneBuilder {
            origin_m,
            ..SceneBuilder::default()
        };
        for (node, world) in self.scene_nodes()? {
            let Some(mesh_index) = self.root.nodes[node].mesh else {
                continue;
            };
            if mesh_index >= self.root.meshes.len() {
                return Err(gltf_error(
                    format!("/nodes/{node}/mesh"),
                    format!("mesh {mesh_index} does not exist"),
                ));
            }
            for p in 0..self.root.meshes[mesh_index].primitives.len() {
                self.read_primitive(mesh_index, p, &world, &mut builder)?;
            }
        }
        builder.images = std::mem::take(&mut self.images);
        if !self.root.skins.is_empty() {
            self.notes.push(format!(
                "{} skin(s) ignored: the mesh is read in its bind pose",
                self.root.skins.len()
            ));
        }
        let bin_sha256_matches = match (&manifest, self.format, self.buffers.first()) {
            (Some(m), "glb", Some(Some(bin))) => Some(sha256_hex(bin) == m.bin_sha256),
            _ => None,
        };
        let levels = self.level_count();
        let mut notes = self.notes;
        notes.extend(builder.notes.iter().cloned());
        let (mesh, points, attributes) = builder.finish();
        Ok(Model {
            format: self.format,
            mesh,
            points,
            manifest,
            bin_sha256_matches,
            attributes,
            notes,
            levels,
            level: self.level.min(levels - 1),
        })
    }

    fn manifest(&self) -> (Option<Manifest>, Option<String>) {
        manifest_of(&self.root)
    }

    /// Levels of detail the scene offers: 1 plus the most coarser stand-ins any root names.
    fn level_count(&self) -> usize {
        let roots: Vec<usize> = match self.root.scenes.get(self.root.scene.unwrap_or(0)) {
            Some(scene) => scene.nodes.clone(),
            None => (0..self.root.nodes.len()).collect(),
        };
        1 + roots
            .iter()
            .filter_map(|&n| self.root.nodes.get(n))
            .filter_map(|node| node.extensions.as_ref()?.msft_lod.as_ref())
            .map(|lod| lod.ids.len())
            .max()
            .unwrap_or(0)
    }

    /// The node that stands for `node` at the requested level (itself at level 0 or without `MSFT_lod`;
    /// its coarsest stand-in beyond the last).
    fn node_at_level(&self, node: usize) -> usize {
        if self.level == 0 {
            return node;
        }
        let ids = self
            .root
            .nodes
            .get(node)
            .and_then(|n| n.extensions.as_ref()?.msft_lod.as_ref())
            .map_or(&[][..], |lod| lod.ids.as_slice());
        match ids.len() {
            0 => node,
            len => ids[(self.level - 1).min(len - 1)],
        }
    }

    /// Every node reachable from the scene with its world matrix, parents before children.
    fn scene_nodes(&self) -> Result<Vec<(usize, Matrix)>, CodecError> {
        let node_count = self.root.nodes.len();
        let roots: Vec<usize> = if self.root.scenes.is_empty() {
            let mut is_child = vec![false; node_count];
            for node in &self.root.nodes {
                for &c in &node.children {
                    if c < node_count {
                        is_child[c] = true;
                    }
                }
            }
            (0..node_count).filter(|&n| !is_child[n]).collect()
        } else {
            let scene = self.root.scene.unwrap_or(0);
            let Some(scene_def) = self.root.scenes.get(scene) else {
                return Err(gltf_error(
                    "/scene",
                    format!("scene {scene} does not exist"),
                ));
            };
            scene_def.nodes.clone()
        };
        let roots: Vec<usize> = roots.into_iter().map(|n| self.node_at_level(n)).collect();
        let mut visited = vec![false; node_count];
        let mut out = Vec::new();
        let mut stack: Vec<(usize, Matrix, String)> = roots
            .iter()
            .rev()
            .map(|&n| (n, IDENTITY, "/scenes".to_owned()))
            .collect();
        while let Some((node, parent, from)) = stack.pop() {
            let Some(def) = self.root.nodes.get(node) else {
                return Err(gltf_error(from, format!("node {node} does not exist")));
            };
            if std::mem::replace(&mut visited[node], true) {
                return Err(gltf_error(
                    format!("/nodes/{node}"),
                    "node appears twice in the hierarchy (a cycle or a shared child)",
                ));
            }
            let world = multiply(&parent, &local_matrix(def));
            for &child in def.children.iter().rev() {
                stack.push((child, world, format!("/nodes/{node}/children")));
            }
            out.push((node, world));
        }
        Ok(out)
    }

    fn read_primitive(
        &mut self,
        mesh: usize,
        p: usize,
        world: &Matrix,
        builder: &mut SceneBuilder,
    ) -> Result<(), CodecError> {
        let pointer = format!("/meshes/{mesh}/primitives/{p}");
        let prim = &self.root.meshes[mesh].primitives[p];
        let (mode, attributes, indices, has_targets, material) = (
            prim.mode,
            prim.attributes.clone(),
            prim.indices,
            !prim.targets.is_empty(),
            prim.material,
        );
        if has_targets {
            builder
                .notes
                .push(format!("{pointer}: morph targets ignored, base shape read"));
        }
        if matches!(mode, 1..=3) {
            builder.notes.push(format!("{pointer}: line primitive (mode {mode}) not read: exhibit keeps surfaces and points"));
            return Ok(());
        }
        if mode > 6 {
            return Err(gltf_error(
                format!("{pointer}/mode"),
                format!("unknown primitive mode {mode}"),
            ));
        }
        let Some(&position_accessor) = attributes.get("POSITION") else {
            builder
                .notes
                .push(format!("{pointer}: no POSITION attribute, skipped"));
            return Ok(());
        };
        // Positions and normals go straight from the file's components into the scene frame as f32.
        let positions = self.read_mapped::<3, [f32; 3]>(position_accessor, "POSITION", |p| {
            transform_point(world, p).map(|c| c as f32)
        })?;
        let vertex_count = positions.len();
        let attribute = |name: &str| attributes.get(name).copied();
        // Normals need no more than f32 (they are 8 to 16 bits in files), and this loop runs per vertex.
        let normal_m = normal_matrix(world).map(|c| c as f32);
        let normals = match attribute("NORMAL") {
            Some(a) => Some(self.read_mapped::<3, [f32; 3]>(a, "NORMAL", |n| {
                let n = n.map(|c| c as f32);
                let t = [0, 1, 2]
                    .map(|r| normal_m[r] * n[0] + normal_m[3 + r] * n[1] + normal_m[6 + r] * n[2]);
                let length_squared = t[0] * t[0] + t[1] * t[1] + t[2] * t[2];
                // NaN marks a normal that has no direction; the builder counts and reports them.
                if length_squared > 0.0 && length_squared.is_finite() {
                    let inverse = length_squared.sqrt().recip();
                    t.map(|c| c * inverse)
                } else {
                    [f32::NAN; 3]
                }
            })?),
            None => None,
        };
        let colors = match attribute("COLOR_0") {
            Some(a) => Some(self.read_colors(a)?),
            None => None,
        };
        let measured = match attribute("_MEASURED") {
            Some(a) => Some(self.read_mapped::<1, bool>(a, "_MEASURED", |[v]| v != 0.0)?),
            None => None,
        };
        let (uvs, image) =
            self.texture_coordinates(material, mode, &attributes, &pointer, builder)?;
        for (name, len) in [
            ("TEXCOORD", uvs.as_ref().map(Vec::len)),
            ("NORMAL", normals.as_ref().map(Vec::len)),
            ("COLOR_0", colors.as_ref().map(Vec::len)),
            ("_MEASURED", measured.as_ref().map(Vec::len)),
        ] {
            if let Some(len) = len
                && len != vertex_count
            {
                return Err(gltf_error(
                    format!("{pointer}/attributes/{name}"),
                    format!("{len} values for {vertex_count} positions"),
                ));
            }
        }
        let raw_indices: Vec<u32> = match indices {
            Some(a) => {
                let values = self.read_indices(a)?;
                // `max` vectorizes; the index buffer is the largest array in a model.
                if let Some(bad) = values
                    .iter()
                    .copied()
                    .max()
                    .filter(|&m| m as usize >= vertex_count)
                {
                    return Err(gltf_error(
                        format!("{pointer}/indices"),
                        format!("index {bad} is not below the vertex count {vertex_count}"),
                    ));
                }
                values
            }
            None => (0..vertex_count as u32).collect(),
        };
        let present: Vec<String> = attributes.keys().cloned().collect();
        let intensity = match attribute("_INTENSITY") {
            Some(a) => Some(self.read_mapped::<1, f32>(a, "_INTENSITY", |[v]| v as f32)?),
            None => None,
        };
        if intensity.as_ref().is_some_and(|i| i.len() != vertex_count) {
            return Err(gltf_error(
                format!("{pointer}/attributes/_INTENSITY"),
                "count differs from POSITION",
            ));
        }
        let part = Part {
            positions,
            normals,
            colors,
            measured,
            intensity,
            uvs,
            image,
            present,
        };
        if mode == 0 {
            builder.add_points(part, &raw_indices);
        } else {
            builder.add_triangles(
                part,
                to_triangle_list(mode, raw_indices),
                determinant(world) < 0.0,
            );
        }
        Ok(())
    }

    /// Read an accessor of `C` components and map each element as it is read: no f64 array in between.
    fn read_mapped<const C: usize, T>(
        &mut self,
        accessor: usize,
        what: &str,
        map: impl Fn([f64; C]) -> T,
    ) -> Result<Vec<T>, CodecError> {
        let simple = self.root.accessors.get(accessor).and_then(|a| {
            if a.sparse.is_none() {
                a.buffer_view
            } else {
                None
            }
        });
        let Some(view) = simple else {
            // Sparse or view-less accessors are rare and small: read them whole, then map.
            return Ok(self
                .read_elements::<C>(accessor, what)?
                .into_iter()
                .map(map)
                .collect());
        };
        self.prepare_view(view)?;
        let (layout, byte_offset, stride) = self.element_layout::<C>(accessor, what)?;
        let data = self.view_bytes(view)?;
        let region = checked_region(data, byte_offset, stride, &layout)
            .map_err(|r| gltf_error(format!("/accessors/{accessor}"), r))?;
        Ok(gather_map(region, stride, &layout, map))
    }

    /// The layout, byte offset and stride of an accessor that must have `C` components.
    fn element_layout<const C: usize>(
        &self,
        index: usize,
        what: &str,
    ) -> Result<(Layout, usize, usize), CodecError> {
        let pointer = format!("/accessors/{index}");
        let Some(accessor) = self.root.accessors.get(index) else {
            return Err(gltf_error(pointer, "accessor does not exist"));
        };
        let components = components_of(&accessor.kind).ok_or_else(|| {
            gltf_error(
                format!("{pointer}/type"),
                format!("unknown type {:?}", accessor.kind),
            )
        })?;
        if components != C {
            return Err(gltf_error(
                pointer,
                format!("{what} must have {C} components, not {components}"),
            ));
        }
        let component_size = component_size(accessor.component_type).ok_or_else(|| {
            gltf_error(
                format!("{pointer}/componentType"),
                format!("unknown component type {}", accessor.component_type),
            )
        })?;
        let layout = Layout {
            count: accessor.count,
            components,
            component_size,
            component_type: accessor.component_type,
            normalized: accessor.normalized,
        };
        let element_size = components * component_size;
        let stride = accessor
            .buffer_view
            .and_then(|v| self.root.buffer_views.get(v))
            .and_then(|v| v.byte_stride)
            .unwrap_or(element_size);
        if stride < element_size {
            return Err(gltf_error(
                pointer,
                format!("byteStride {stride} is smaller than one element ({element_size} bytes)"),
            ));
        }
        Ok((layout, accessor.byte_offset, stride))
    }

    fn read_indices(&mut self, accessor: usize) -> Result<Vec<u32>, CodecError> {
        let pointer = format!("/accessors/{accessor}");
        let Some(a) = self.root.accessors.get(accessor) else {
            return Err(gltf_error(pointer, "accessor does not exist"));
        };
        let (component_type, view, sparse, count, offset) = (
            a.component_type,
            a.buffer_view,
            a.sparse.is_some(),
            a.count,
            a.byte_offset,
        );
        if !matches!(component_type, 5121 | 5123 | 5125) || a.kind != "SCALAR" {
            return Err(gltf_error(
                pointer,
                "indices must be SCALAR unsigned byte, short or int",
            ));
        }
        // Meshopt-compressed indices decode straight into the u32 array the mesh keeps: index buffers are
        // the largest arrays in a model, and every copy of them costs.
        if let (Some(view), false, 0) = (view, sparse, offset) {
            let meshopt = self.root.buffer_views.get(view).and_then(|v| {
                v.extensions
                    .as_ref()
                    .and_then(|e| e.ext_meshopt.as_ref().or(e.khr_meshopt.as_ref()))
            });
            if let Some(m) = meshopt.filter(|m| {
                m.count == count
                    && m.mode != "ATTRIBUTES"
                    && !self.decoded_views.contains_key(&view)
            }) {
                let source = slice(&self.buffers, m.buffer, m.byte_offset, m.byte_length).map_err(
                    |reason| gltf_error(format!("/bufferViews/{view}/extensions"), reason),
                )?;
                return decode_meshopt_indices(source, m).map_err(|reason| {
                    gltf_error(format!("/bufferViews/{view}/extensions"), reason)
                });
            }
        }
        // Otherwise straight from the view's bytes into u32.
        if let (Some(view), false) = (view, sparse) {
            self.prepare_view(view)?;
            let size = component_size(component_type).unwrap_or(4);
            let stride = self
                .root
                .buffer_views
                .get(view)
                .and_then(|v| v.byte_stride)
                .unwrap_or(size);
            let data = self.view_bytes(view)?;
            let needed = count.saturating_mul(stride);
            if stride < size || offset.saturating_add(needed) > data.len() {
                return Err(gltf_error(
                    pointer,
                    format!(
                        "{count} indices at offset {offset} do not fit the view's {} bytes",
                        data.len()
                    ),
                ));
            }
            let region = &data[offset..offset + needed];
            return Ok(match size {
                1 => region.chunks(stride).map(|b| u32::from(b[0])).collect(),
                2 => region
                    .chunks(stride)
                    .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                _ => region
                    .chunks(stride)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            });
        }
        Ok(self
            .read_elements::<1>(accessor, "indices")?
            .into_iter()
            .map(|[v]| v as u32)
            .collect())
    }

    fn read_colors(&mut self, accessor: usize) -> Result<Vec<[u8; 4]>, CodecError> {
        // Our own files store 16-bit linear colour; map it back exactly. Other files: linear floats to sRGB.
        let Some(a) = self.root.accessors.get(accessor) else {
            return Err(gltf_error(
                format!("/accessors/{accessor}"),
                "accessor does not exist",
            ));
        };
        let is_u16 = a.component_type == 5123;
        let rgba: Vec<[f64; 4]> = if a.kind == "VEC3" {
            self.read_elements::<3>(accessor, "COLOR_0")?
                .into_iter()
                .map(|c| [c[0], c[1], c[2], 1.0])
                .collect()
        } else {
            self.read_elements::<4>(accessor, "COLOR_0 (VEC3 or VEC4)")?
        };
        Ok(rgba
            .into_iter()
            .map(|c| {
                if is_u16 {
                    crate::quantize::color_from_linear_u16(c.map(|v| (v * 65535.0).round() as u16))
                } else {
                    [
                        crate::mesh::linear_to_srgb(c[0]),
                        crate::mesh::linear_to_srgb(c[1]),
                        crate::mesh::linear_to_srgb(c[2]),
                        (c[3].clamp(0.0, 1.0) * 255.0).round() as u8,
                    ]
                }
            })
            .collect())
    }

    /// Read an accessor of `C` components as f64 (normalized integers mapped as the specification says),
    /// sparse values applied.
    fn read_elements<const C: usize>(
        &mut self,
        index: usize,
        what: &str,
    ) -> Result<Vec<[f64; C]>, CodecError> {
        let pointer = format!("/accessors/{index}");
        let (layout, byte_offset, stride) = self.element_layout::<C>(index, what)?;
        let accessor = &self.root.accessors[index];
        let views: Vec<usize> = accessor
            .buffer_view
            .into_iter()
            .chain(
                accessor
                    .sparse
                    .iter()
                    .flat_map(|s| [s.indices.buffer_view, s.values.buffer_view]),
            )
            .collect();
        let sparse = accessor.sparse.as_ref().map(|s| {
            (
                s.count,
                s.indices.buffer_view,
                s.indices.byte_offset,
                s.indices.component_type,
                s.values.buffer_view,
                s.values.byte_offset,
            )
        });
        let buffer_view = accessor.buffer_view;
        for view in views {
            self.prepare_view(view)?;
        }
        let mut values = if let Some(view) = buffer_view {
            let data = self.view_bytes(view)?;
            let region = checked_region(data, byte_offset, stride, &layout)
                .map_err(|r| gltf_error(&pointer, r))?;
            gather_map(region, stride, &layout, |e| e)
        } else {
            // Without a view the values are zeros (and usually sparse). Zeros cost memory but no bytes,
            // so a bound keeps a tiny file from asking for gigabytes.
            if layout.count > 1 << 24 {
                return Err(gltf_error(
                    pointer,
                    format!("{} elements without a bufferView", layout.count),
                ));
            }
            vec![[0.0; C]; layout.count]
        };
        if let Some(sparse) = sparse {
            self.apply_sparse(values.as_flattened_mut(), sparse, &layout, &pointer)?;
        }
        Ok(values)
    }

    /// Overwrite the elements a sparse accessor names with its values, checking every index and offset.
    fn apply_sparse(
        &self,
        values: &mut [f64],
        sparse: SparseSpec,
        layout: &Layout,
        pointer: &str,
    ) -> Result<(), CodecError> {
        let (sparse_count, index_view, index_offset, index_type, value_view, value_offset) = sparse;
        let Layout {
            count,
            components,
            component_size,
            component_type,
            normalized,
        } = *layout;
        let element_size = components * component_size;
        if sparse_count > count {
            return Err(gltf_error(
                format!("{pointer}/sparse"),
                format!("{sparse_count} sparse values for {count} elements"),
            ));
        }
        let index_size = match index_type {
            5121 => 1,
            5123 => 2,
            5125 => 4,
            other => {
                return Err(gltf_error(
                    format!("{pointer}/sparse/indices"),
                    format!("component type {other}"),
                ));
            }
        };
        let index_data = self.view_bytes(index_view)?;
        let value_data = self.view_bytes(value_view)?;
        if index_offset.saturating_add(sparse_count.saturating_mul(index_size)) > index_data.len()
            || value_offset.saturating_add(sparse_count.saturating_mul(element_size))
                > value_data.len()
        {
            return Err(gltf_error(
                format!("{pointer}/sparse"),
                "sparse data runs past its bufferView",
            ));
        }
        // Sparse indices and values are tightly packed: read them with the same conversion as any accessor.
        let scalars = |count, component_size, component_type, normalized| Layout {
            count,
            components: 1,
            component_size,
            component_type,
            normalized,
        };
        let index_region = &index_data[index_offset..index_offset + sparse_count * index_size];
        let targets = gather_map(
            index_region,
            index_size,
            &scalars(sparse_count, index_size, index_type, false),
            |[v]: [f64; 1]| v as usize,
        );
        let value_region = &value_data[value_offset..value_offset + sparse_count * element_size];
        let replacements = gather_map(
            value_region,
            component_size,
            &scalars(
                sparse_count * components,
                component_size,
                component_type,
                normalized,
            ),
            |[v]: [f64; 1]| v,
        );
        for (s, &target) in targets.iter().enumerate() {
            if target >= count {
                return Err(gltf_error(
                    format!("{pointer}/sparse"),
                    format!("sparse index {target} is not below {count}"),
                ));
            }
            values[target * components..(target + 1) * components]
                .copy_from_slice(&replacements[s * components..(s + 1) * components]);
        }
        Ok(())
    }

    /// Decompress a meshopt view once, so that [`Reader::view_bytes`] can lend its bytes.
    fn prepare_view(&mut self, index: usize) -> Result<(), CodecError> {
        let pointer = format!("/bufferViews/{index}");
        let Some(view) = self.root.buffer_views.get(index) else {
            return Err(gltf_error(pointer, "bufferView does not exist"));
        };
        let meshopt = view
            .extensions
            .as_ref()
            .and_then(|e| e.ext_meshopt.as_ref().or(e.khr_meshopt.as_ref()));
        if let Some(m) = meshopt
            && !self.decoded_views.contains_key(&index)
        {
            let source = slice(&self.buffers, m.buffer, m.byte_offset, m.byte_length)
                .map_err(|reason| gltf_error(format!("{pointer}/extensions"), reason))?;
            let decoded = decode_meshopt(source, m, view.byte_length)
                .map_err(|reason| gltf_error(format!("{pointer}/extensions"), reason))?;
            self.decoded_views.insert(index, decoded);
        }
        Ok(())
    }

    /// The bytes of a buffer view; meshopt views must have been prepared.
    fn view_bytes(&self, index: usize) -> Result<&[u8], CodecError> {
        let pointer = format!("/bufferViews/{index}");
        if let Some(decoded) = self.decoded_views.get(&index) {
            return Ok(decoded.bytes());
        }
        let Some(view) = self.root.buffer_views.get(index) else {
            return Err(gltf_error(pointer, "bufferView does not exist"));
        };
        slice(
            &self.buffers,
            view.buffer,
            view.byte_offset,
            view.byte_length,
        )
        .map_err(|reason| gltf_error(pointer, reason))
    }
}

fn slice<'b>(
    buffers: &'b [Option<std::borrow::Cow<'_, [u8]>>],
    buffer: usize,
    offset: usize,
    length: usize,
) -> Result<&'b [u8], String> {
    let data = match buffers.get(buffer) {
        None => return Err(format!("buffer {buffer} does not exist")),
        Some(None) => {
            return Err(format!(
                "buffer {buffer} holds no data (a meshopt fallback) but a view reads it"
            ));
        }
        Some(Some(data)) => data,
    };
    let end = offset.checked_add(length).filter(|&end| end <= data.len());
    match end {
        Some(end) => Ok(&data[offset..end]),
        None => Err(format!(
            "bytes {offset}..{offset}+{length} lie outside buffer {buffer} of {} bytes",
            data.len()
        )),
    }
}

fn component_size(component_type: u32) -> Option<usize> {
    match component_type {
        5120 | 5121 => Some(1),
        5122 | 5123 => Some(2),
        5125 | 5126 => Some(4),
        _ => None,
    }
}

/// The bytes of `count` elements from `byte_offset`, or why they do not fit.
fn checked_region<'d>(
    data: &'d [u8],
    byte_offset: usize,
    stride: usize,
    layout: &Layout,
) -> Result<&'d [u8], String> {
    let element_size = layout.components * layout.component_size;
    let needed = if layout.count == 0 {
        0
    } else {
        (layout.count - 1)
            .saturating_mul(stride)
            .saturating_add(element_size)
    };
    if byte_offset.saturating_add(needed) > data.len() {
        return Err(format!(
            "{} elements at offset {byte_offset} need {needed} bytes, the view has {}",
            layout.count,
            data.len()
        ));
    }
    Ok(&data[byte_offset..byte_offset + needed])
}

/// Every element of a strided region as `C` f64 components, mapped as it is read. The component
/// conversion is chosen once per accessor: this loop is the reader's hot path.
fn gather_map<const C: usize, T>(
    region: &[u8],
    stride: usize,
    layout: &Layout,
    map: impl Fn([f64; C]) -> T,
) -> Vec<T> {
    fn run<const N: usize, const C: usize, T>(
        region: &[u8],
        stride: usize,
        count: usize,
        convert: impl Fn([u8; N]) -> f64,
        map: impl Fn([f64; C]) -> T,
    ) -> Vec<T> {
        region
            .chunks(stride)
            .take(count)
            .map(|element| {
                map(std::array::from_fn(|c| {
                    let mut raw = [0u8; N];
                    raw.copy_from_slice(&element[c * N..c * N + N]);
                    convert(raw)
                }))
            })
            .collect()
    }
    let count = layout.count;
    match (layout.component_type, layout.normalized) {
        (5120, false) => run(
            region,
            stride,
            count,
            |b: [u8; 1]| f64::from(b[0].cast_signed()),
            map,
        ),
        (5120, true) => run(
            region,
            stride,
            count,
            |b: [u8; 1]| (f64::from(b[0].cast_signed()) / 127.0).max(-1.0),
            map,
        ),
        (5121, false) => run(region, stride, count, |b: [u8; 1]| f64::from(b[0]), map),
        (5121, true) => run(
            region,
            stride,
            count,
            |b: [u8; 1]| f64::from(b[0]) / 255.0,
            map,
        ),
        (5122, false) => run(
            region,
            stride,
            count,
            |b| f64::from(i16::from_le_bytes(b)),
            map,
        ),
        (5122, true) => run(
            region,
            stride,
            count,
            |b| (f64::from(i16::from_le_bytes(b)) / 32767.0).max(-1.0),
            map,
        ),
        (5123, false) => run(
            region,
            stride,
            count,
            |b| f64::from(u16::from_le_bytes(b)),
            map,
        ),
        (5123, true) => run(
            region,
            stride,
            count,
            |b| f64::from(u16::from_le_bytes(b)) / 65535.0,
            map,
        ),
        (5125, false) => run(
            region,
            stride,
            count,
            |b| f64::from(u32::from_le_bytes(b)),
            map,
        ),
        (5125, true) => run(
            region,
            stride,
            count,
            |b| f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
            map,
        ),
        _ => run(
            region,
            stride,
            count,
            |b| f64::from(f32::from_le_bytes(b)),
            map,
        ),
    }
}

fn components_of(kind: &str) -> Option<usize> {
    Some(match kind {
        "SCALAR" => 1,
        "VEC2" => 2,
        "VEC3" => 3,
        "VEC4" | "MAT2" => 4,
        "MAT3" => 9,
        "MAT4" => 16,
        _ => return None,
    })
}

fn load_uri(uri: &str, base_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let Some((_, payload)) = rest.split_once(";base64,") else {
            return Err("data URI is not base64".into());
        };
        return base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| format!("data URI: {e}"));
    }
    let Some(base_dir) = base_dir else {
        return Err(format!(
            "external buffer {uri:?} but no folder to read it from"
        ));
    };
    let relative = PathBuf::from(percent_decode(uri));
    // A model may only read files beside it: no absolute paths, no climbing out of its folder.
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("buffer uri {uri:?} leaves the model's folder"));
    }
    let path = base_dir.join(relative);
    fs_err::read(&path).map_err(|e| format!("cannot read buffer: {e}"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `meshopt_decode*` into a fresh buffer of `count * byteStride` bytes, refusing implausible sizes first.
fn decode_meshopt(
    source: &[u8],
    m: &MeshoptView,
    view_length: usize,
) -> Result<DecodedView, String> {
    let decoded_len = m
        .count
        .checked_mul(m.byte_stride)
        .ok_or("count times byteStride overflows")?;
    if decoded_len > view_length {
        return Err(format!(
            "decodes to {decoded_len} bytes but the bufferView holds {view_length}"
        ));
    }
    if decoded_len
        > source
            .len()
            .saturating_mul(MAX_MESHOPT_EXPANSION)
            .saturating_add(1 << 16)
    {
        return Err(format!(
            "claims {decoded_len} decoded bytes from {} compressed bytes",
            source.len()
        ));
    }
    let filter = m.filter.as_deref().unwrap_or("NONE");
    match m.mode.as_str() {
        "ATTRIBUTES" => {
            if m.byte_stride == 0 || !m.byte_stride.is_multiple_of(4) || m.byte_stride > 256 {
                return Err(format!(
                    "byteStride {} is not a multiple of 4 up to 256",
                    m.byte_stride
                ));
            }
            let mut words = backend::attribute_words(source, m.count, m.byte_stride)?;
            backend::apply_filter(&mut words, filter, m.byte_stride)?;
            Ok(DecodedView {
                words,
                byte_len: decoded_len,
            })
        }
        "TRIANGLES" | "INDICES" => {
            if filter != "NONE" {
                return Err(format!("filter {filter} on an index view"));
            }
            if m.mode == "TRIANGLES" && !m.count.is_multiple_of(3) {
                return Err(format!(
                    "TRIANGLES count {} is not a multiple of 3",
                    m.count
                ));
            }
            let triangles = m.mode == "TRIANGLES";
            match m.byte_stride {
                2 => {
                    let v = backend::indices_u16(source, m.count, triangles)?;
                    Ok(DecodedView::from_bytes(bytemuck::cast_slice(&v)))
                }
                4 => Ok(DecodedView {
                    words: backend::indices_u32(source, m.count, triangles)?,
                    byte_len: decoded_len,
                }),
                other => Err(format!("index byteStride {other} is not 2 or 4")),
            }
        }
        other => Err(format!("unknown meshopt mode {other:?}")),
    }
}

/// A meshopt index view decoded directly into u32, whatever its stored width, with the same checks as
/// [`decode_meshopt`].
fn decode_meshopt_indices(source: &[u8], m: &MeshoptView) -> Result<Vec<u32>, String> {
    if m.byte_stride != 2 && m.byte_stride != 4 {
        return Err(format!("index byteStride {} is not 2 or 4", m.byte_stride));
    }
    if m.count.saturating_mul(m.byte_stride)
        > source
            .len()
            .saturating_mul(MAX_MESHOPT_EXPANSION)
            .saturating_add(1 << 16)
    {
        return Err(format!(
            "claims {} indices from {} compressed bytes",
            m.count,
            source.len()
        ));
    }
    if m.filter.as_deref().is_some_and(|f| f != "NONE") {
        return Err("a filter on an index view".into());
    }
    let triangles = m.mode == "TRIANGLES";
    if triangles && !m.count.is_multiple_of(3) {
        return Err(format!(
            "TRIANGLES count {} is not a multiple of 3",
            m.count
        ));
    }
    let values = backend::indices_u32(source, m.count, triangles)?;
    // A 16-bit view holds values below 65536; the decoder does not check what it was given.
    if m.byte_stride == 2 && values.iter().any(|&i| i > 0xffff) {
        return Err("16-bit index view decodes to values above 65535".into());
    }
    Ok(values)
}

/// A decompressed buffer view: 4-byte words (so typed filters can work in place) and its length in bytes.
struct DecodedView {
    words: Vec<u32>,
    byte_len: usize,
}

impl DecodedView {
    fn from_bytes(bytes: &[u8]) -> Self {
        let words = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        Self {
            words,
            byte_len: bytes.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[..self.byte_len]
    }
}

/// meshopt decoding: the C++ library (SIMD) on native targets, this crate's plain-Rust decoders on wasm32,
/// where the library cannot be built. The two agree byte for byte on vertex and index streams (tested in
/// `meshopt_decode`); normal and quaternion filters may differ by one unit in a component.
#[cfg(not(target_arch = "wasm32"))]
mod backend {
    pub(super) fn indices_u32(
        source: &[u8],
        count: usize,
        triangles: bool,
    ) -> Result<Vec<u32>, String> {
        if triangles {
            meshopt::decode_index_buffer::<u32>(source, count)
        } else {
            meshopt::decode_index_sequence::<u32>(source, count)
        }
        .map_err(|e| format!("index data does not decode: {e}"))
    }

    pub(super) fn indices_u16(
        source: &[u8],
        count: usize,
        triangles: bool,
    ) -> Result<Vec<u16>, String> {
        if triangles {
            meshopt::decode_index_buffer::<u16>(source, count)
        } else {
            meshopt::decode_index_sequence::<u16>(source, count)
        }
        .map_err(|e| format!("index data does not decode: {e}"))
    }

    /// A vertex of `4 * K` bytes, so the typed meshopt decoder can be used for any stride.
    #[derive(Clone, Copy)]
    #[repr(transparent)]
    struct Words<const K: usize>([u32; K]);

    impl<const K: usize> Default for Words<K> {
        fn default() -> Self {
            Self([0; K])
        }
    }

    /// Decode vertices of `4 * K` bytes straight into words: no copy for strides up to 128 bytes.
    fn decode_words<const K: usize>(source: &[u8], count: usize) -> Result<Vec<u32>, String>
    where
        [u32; K]: Default + bytemuck::Pod,
    {
        let v: Vec<[u32; K]> = meshopt::decode_vertex_buffer(source, count)
            .map_err(|e| format!("vertex data does not decode: {e}"))?;
        Ok(bytemuck::allocation::try_cast_vec(v)
            .unwrap_or_else(|(_, v)| v.into_iter().flatten().collect()))
    }

    /// Strides of 132 to 256 bytes, beyond what arrays implement `Default` for: decode, then copy.
    fn decode_wide_words<const K: usize>(source: &[u8], count: usize) -> Result<Vec<u32>, String> {
        let v: Vec<Words<K>> = meshopt::decode_vertex_buffer(source, count)
            .map_err(|e| format!("vertex data does not decode: {e}"))?;
        Ok(v.into_iter().flat_map(|w| w.0).collect())
    }

    macro_rules! decode_by_stride {
        ($source:expr, $count:expr, $stride:expr; $($k:literal)*; $($w:literal)*) => {
            match $stride / 4 {
                $($k => decode_words::<$k>($source, $count),)*
                $($w => decode_wide_words::<$w>($source, $count),)*
                _ => Err(format!("byteStride {} is not supported", $stride)),
            }
        };
    }

    pub(super) fn attribute_words(
        source: &[u8],
        count: usize,
        stride: usize,
    ) -> Result<Vec<u32>, String> {
        decode_by_stride!(source, count, stride;
            1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32;
            33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64)
    }

    /// Undo a meshopt filter in place on the decoded words.
    pub(super) fn apply_filter(
        words: &mut [u32],
        filter: &str,
        stride: usize,
    ) -> Result<(), String> {
        match (filter, stride) {
            ("NONE", _) => Ok(()),
            ("OCTAHEDRAL", 4) => {
                meshopt::decode_filter_oct(bytemuck::cast_slice_mut::<u32, [i8; 4]>(words));
                Ok(())
            }
            ("OCTAHEDRAL", 8) => {
                meshopt::decode_filter_oct(bytemuck::cast_slice_mut::<u32, [i16; 4]>(words));
                Ok(())
            }
            ("QUATERNION", 8) => {
                meshopt::decode_filter_quat(bytemuck::cast_slice_mut::<u32, [i16; 4]>(words));
                Ok(())
            }
            ("EXPONENTIAL", _) => {
                meshopt::decode_filter_exp(bytemuck::cast_slice_mut::<u32, [u32; 1]>(words));
                Ok(())
            }
            (other, stride) => Err(format!(
                "filter {other} with byteStride {stride} is not supported"
            )),
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod backend {
    use crate::meshopt_decode as decode;

    pub(super) fn indices_u32(
        source: &[u8],
        count: usize,
        triangles: bool,
    ) -> Result<Vec<u32>, String> {
        if triangles {
            decode::decode_index_buffer(source, count)
        } else {
            decode::decode_index_sequence(source, count)
        }
        .map_err(|e| format!("index data does not decode: {e}"))
    }

    pub(super) fn indices_u16(
        source: &[u8],
        count: usize,
        triangles: bool,
    ) -> Result<Vec<u16>, String> {
        // The library writes the low 16 bits; so does this.
        Ok(indices_u32(source, count, triangles)?
            .into_iter()
            .map(|i| i as u16)
            .collect())
    }

    pub(super) fn attribute_words(
        source: &[u8],
        count: usize,
        stride: usize,
    ) -> Result<Vec<u32>, String> {
        let bytes = decode::decode_vertex_buffer(source, count, stride)
            .map_err(|e| format!("vertex data does not decode: {e}"))?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    pub(super) fn apply_filter(
        words: &mut [u32],
        filter: &str,
        stride: usize,
    ) -> Result<(), String> {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(words);
        match filter {
            "NONE" => Ok(()),
            "OCTAHEDRAL" => decode::decode_filter_oct(bytes, stride).map_err(|e| e.to_string()),
            "QUATERNION" => decode::decode_filter_quat(bytes, stride).map_err(|e| e.to_string()),
            "EXPONENTIAL" => {
                decode::decode_filter_exp(bytes);
                Ok(())
            }
            other => Err(format!(
                "filter {other} with byteStride {stride} is not supported"
            )),
        }
    }
}

/// Three indices per triangle; a list is returned as it is, strips and fans are unrolled.
fn to_triangle_list(mode: u32, indices: Vec<u32>) -> Vec<u32> {
    match mode {
        5 => (2..indices.len())
            .flat_map(|i| {
                // Every other triangle of a strip is flipped to keep the winding.
                if i % 2 == 0 {
                    [indices[i - 2], indices[i - 1], indices[i]]
                } else {
                    [indices[i - 1], indices[i - 2], indices[i]]
                }
            })
            .collect(),
        6 => (2..indices.len())
            .flat_map(|i| [indices[0], indices[i - 1], indices[i]])
            .collect(),
        _ => {
            let mut list = indices;
            list.truncate(list.len() / 3 * 3);
            list
        }
    }
}

fn local_matrix(node: &Node) -> Matrix {
    if let Some(m) = node.matrix {
        return m.map(f64::from);
    }
    let t = node.translation.unwrap_or([0.0; 3]).map(f64::from);
    let [x, y, z, w] = node.rotation.unwrap_or([0.0, 0.0, 0.0, 1.0]).map(f64::from);
    let s = node.scale.unwrap_or([1.0; 3]).map(f64::from);
    let r = [
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y + z * w),
        2.0 * (x * z - y * w),
        2.0 * (x * y - z * w),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z + x * w),
        2.0 * (x * z + y * w),
        2.0 * (y * z - x * w),
        1.0 - 2.0 * (x * x + y * y),
    ];
    [
        r[0] * s[0],
        r[1] * s[0],
        r[2] * s[0],
        0.0,
        r[3] * s[1],
        r[4] * s[1],
        r[5] * s[1],
        0.0,
        r[6] * s[2],
        r[7] * s[2],
        r[8] * s[2],
        0.0,
        t[0],
        t[1],
        t[2],
        1.0,
    ]
}

fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    let mut out = [0.0; 16];
    for col in 0..4 {
        for row in 0..4 {
            out[col * 4 + row] = (0..4).map(|k| a[k * 4 + row] * b[col * 4 + k]).sum();
        }
    }
    out
}

fn transform_point(m: &Matrix, p: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|row| m[row] * p[0] + m[4 + row] * p[1] + m[8 + row] * p[2] + m[12 + row])
}

/// The inverse transpose of the upper 3x3, for normals (scaled; normalize after).
fn normal_matrix(m: &Matrix) -> [f64; 9] {
    let a = |r: usize, c: usize| m[c * 4 + r];
    // Cofactor matrix of the 3x3 equals det * inverse transpose; the scale does not matter for directions.
    [
        a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1),
        a(1, 2) * a(2, 0) - a(1, 0) * a(2, 2),
        a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0),
        a(0, 2) * a(2, 1) - a(0, 1) * a(2, 2),
        a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0),
        a(0, 1) * a(2, 0) - a(0, 0) * a(2, 1),
        a(0, 1) * a(1, 2) - a(0, 2) * a(1, 1),
        a(0, 2) * a(1, 0) - a(0, 0) * a(1, 2),
        a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0),
    ]
}

fn determinant(m: &Matrix) -> f64 {
    let a = |r: usize, c: usize| m[c * 4 + r];
    a(0, 0) * (a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1))
        - a(0, 1) * (a(1, 0) * a(2, 2) - a(1, 2) * a(2, 0))
        + a(0, 2) * (a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0))
}

/// One primitive's attributes, already in the scene frame, before they join the scene.
struct Part {
    positions: Vec<[f32; 3]>,
    /// Unit normals; NaN where the file's normal had no direction.
    normals: Option<Vec<[f32; 3]>>,
    colors: Option<Vec<[u8; 4]>>,
    measured: Option<Vec<bool>>,
    intensity: Option<Vec<f32>>,
    /// Texture coordinates, when the primitive's material has a base-colour texture it could read.
    uvs: Option<Vec<[f32; 2]>>,
    /// The model's image the primitive samples, or [`crate::texture::NO_IMAGE`].
    image: u32,
    present: Vec<String>,
}

/// Accumulates primitives into one mesh and one cloud; attributes present in only some parts are
/// filled for the others and a note says so.
#[derive(Default)]
struct SceneBuilder {
    origin_m: [f64; 3],
    mesh_parts: Vec<(Part, Vec<u32>)>,
    point_parts: Vec<(Part, Vec<u32>)>,
    notes: Vec<String>,
    images: Vec<crate::texture::TextureImage>,
}

impl SceneBuilder {
    fn add_triangles(&mut self, part: Part, mut triangles: Vec<u32>, mirrored: bool) {
        // A mirroring transform turns the winding inside out; swap two corners to keep faces outward.
        if mirrored {
            for t in triangles.chunks_exact_mut(3) {
                t.swap(1, 2);
            }
        }
        self.mesh_parts.push((part, triangles));
    }

    fn add_points(&mut self, part: Part, indices: &[u32]) {
        self.point_parts.push((part, indices.to_vec()));
    }

    fn note_bad_normals(&mut self, bad_normals: usize) {
        if bad_normals > 0 {
            self.notes.push(format!(
                "{bad_normals} zero-length normals: normals left out, a viewer recomputes them"
            ));
        }
    }

    /// Join several primitives into one mesh; attributes some parts lack are filled (white, measured).
    fn concatenate(
        &mut self,
        mesh: &mut Mesh,
        want_normals: bool,
        want_colors: bool,
        want_measured: bool,
    ) {
        let vertex_total: usize = self.mesh_parts.iter().map(|(p, _)| p.positions.len()).sum();
        let index_total: usize = self.mesh_parts.iter().map(|(_, t)| t.len()).sum();
        mesh.positions.reserve_exact(vertex_total);
        mesh.indices.reserve_exact(index_total);
        let mut normals = Vec::with_capacity(if want_normals { vertex_total } else { 0 });
        let mut colors = Vec::with_capacity(if want_colors { vertex_total } else { 0 });
        let mut measured = Vec::with_capacity(if want_measured { vertex_total } else { 0 });
        // Intensity only when every primitive has it: nothing is invented.
        let want_intensity = self.mesh_parts.iter().all(|(p, _)| p.intensity.is_some());
        let mut intensity = Vec::with_capacity(if want_intensity { vertex_total } else { 0 });
        for (part, triangles) in &self.mesh_parts {
            let base = mesh.positions.len() as u32;
            mesh.positions.extend_from_slice(&part.positions);
            if want_normals {
                normals.extend_from_slice(part.normals.as_deref().unwrap_or_default());
            }
            if want_colors {
                match &part.colors {
                    Some(c) => colors.extend_from_slice(c),
                    None => colors.resize(colors.len() + part.positions.len(), [255; 4]),
                }
            }
            if want_measured {
                match &part.measured {
                    Some(m) => measured.extend_from_slice(m),
                    None => measured.resize(measured.len() + part.positions.len(), true),
                }
            }
            if want_intensity {
                intensity.extend_from_slice(part.intensity.as_deref().unwrap_or_default());
            }
            mesh.indices.extend(triangles.iter().map(|i| i + base));
        }
        let bad_normals = normals.iter().filter(|n| n[0].is_nan()).count();
        self.note_bad_normals(bad_normals);
        mesh.normals = (want_normals && bad_normals == 0).then_some(normals);
        mesh.colors_srgb = want_colors.then_some(colors);
        mesh.measured = want_measured.then_some(measured);
        mesh.intensity = want_intensity.then_some(intensity);
    }

    /// The triangles' texturing across all parts (coordinates (0, 0) and no image where a part has none), or
    /// `None` when no part is textured.
    fn texturing(&mut self) -> Option<crate::texture::Texturing> {
        if self.mesh_parts.iter().all(|(p, _)| p.uvs.is_none()) {
            return None;
        }
        let mut texturing = crate::texture::Texturing {
            images: std::mem::take(&mut self.images),
            ..crate::texture::Texturing::default()
        };
        for (part, triangles) in &mut self.mesh_parts {
            match part.uvs.take() {
                Some(uvs) => texturing.uvs.extend(uvs),
                None => texturing
                    .uvs
                    .resize(texturing.uvs.len() + part.positions.len(), [0.0; 2]),
            }
            texturing.triangle_image.resize(
                texturing.triangle_image.len() + triangles.len() / 3,
                part.image,
            );
        }
        Some(texturing)
    }

    /// glTF coordinates are offsets from the manifest's origin (zero for other files), so they become
    /// the f32 offsets of the result unchanged.
    fn finish(mut self) -> (Mesh, PointCloud, Vec<String>) {
        let mut attributes: Vec<String> = self
            .mesh_parts
            .iter()
            .map(|(p, _)| &p.present)
            .chain(self.point_parts.iter().map(|(p, _)| &p.present))
            .flatten()
            .cloned()
            .collect();
        attributes.sort();
        attributes.dedup();
        let origin = self.origin_m;
        let mut mesh = Mesh {
            origin_m: origin,
            ..Mesh::default()
        };
        let any =
            |f: fn(&Part) -> bool, parts: &[(Part, Vec<u32>)]| parts.iter().any(|(p, _)| f(p));
        let want_normals =
            !self.mesh_parts.is_empty() && self.mesh_parts.iter().all(|(p, _)| p.normals.is_some());
        let want_colors = any(|p| p.colors.is_some(), &self.mesh_parts);
        let want_measured = any(|p| p.measured.is_some(), &self.mesh_parts);
        mesh.texturing = self.texturing();
        if any(|p| p.normals.is_some(), &self.mesh_parts) && !want_normals {
            self.notes.push(
                "normals present on only some primitives: left out, a viewer recomputes them"
                    .into(),
            );
        }
        if self.mesh_parts.len() == 1 && want_normals {
            // One primitive (every model exhibit writes as one chunk): its arrays become the mesh's as they are.
            if let Some((part, triangles)) = self.mesh_parts.pop() {
                mesh.positions = part.positions;
                mesh.indices = triangles;
                mesh.colors_srgb = part.colors;
                mesh.measured = part.measured;
                mesh.intensity = part.intensity;
                let normals = part.normals.unwrap_or_default();
                let bad_normals = normals.iter().filter(|n| n[0].is_nan()).count();
                self.note_bad_normals(bad_normals);
                mesh.normals = (bad_normals == 0).then_some(normals);
            }
        } else if self.mesh_parts.len() == 1 {
            if let Some((part, triangles)) = self.mesh_parts.pop() {
                mesh.positions = part.positions;
                mesh.indices = triangles;
                mesh.colors_srgb = part.colors;
                mesh.measured = part.measured;
                mesh.intensity = part.intensity;
            }
        } else {
            self.concatenate(&mut mesh, want_normals, want_colors, want_measured);
        }
        let mut points = PointCloud {
            origin_m: origin,
            ..PointCloud::default()
        };
        let want_point_colors = self.point_parts.iter().any(|(p, _)| p.colors.is_some());
        // Normals and intensity only when every point primitive has them: nothing is invented.
        let want_point_normals = !self.point_parts.is_empty()
            && self.point_parts.iter().all(|(p, _)| p.normals.is_some());
        let want_intensity = !self.point_parts.is_empty()
            && self.point_parts.iter().all(|(p, _)| p.intensity.is_some());
        let mut point_colors = Vec::new();
        let mut point_normals = Vec::new();
        let mut intensity = Vec::new();
        for (part, indices) in &self.point_parts {
            for &i in indices {
                let i = i as usize;
                points.positions.push(part.positions[i]);
                if want_point_colors {
                    point_colors.push(part.colors.as_ref().map_or([255; 4], |c| c[i]));
                }
                if let (true, Some(n)) = (want_point_normals, &part.normals) {
                    point_normals.push(n[i]);
                }
                if let (true, Some(v)) = (want_intensity, &part.intensity) {
                    intensity.push(v[i]);
                }
            }
        }
        let bad_point_normals = point_normals.iter().filter(|n| n[0].is_nan()).count();
        self.note_bad_normals(bad_point_normals);
        points.colors_srgb = want_point_colors.then_some(point_colors);
        points.normals = (want_point_normals && bad_point_normals == 0).then_some(point_normals);
        points.intensity = want_intensity.then_some(intensity);
        (mesh, points, attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A triangle whose third vertex is moved by a sparse accessor, with a node that mirrors it.
    fn sparse_gltf() -> Vec<u8> {
        let mut buffer = Vec::new();
        for v in [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] {
            for c in v {
                buffer.extend(c.to_le_bytes());
            }
        }
        buffer.extend(2u16.to_le_bytes()); // sparse index: vertex 2
        buffer.extend([0, 0]); // padding to 4
        for c in [0.0f32, 5.0, 0.0] {
            buffer.extend(c.to_le_bytes()); // its new position
        }
        let uri = format!(
            "data:application/octet-stream;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&buffer)
        );
        serde_json::to_vec(&serde_json::json!({
            "asset": {"version": "2.0"},
            "buffers": [{"uri": uri, "byteLength": buffer.len()}],
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": 36},
                {"buffer": 0, "byteOffset": 36, "byteLength": 2},
                {"buffer": 0, "byteOffset": 40, "byteLength": 12}
            ],
            "accessors": [{
                "bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                "sparse": {"count": 1, "indices": {"bufferView": 1, "componentType": 5123}, "values": {"bufferView": 2}}
            }],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            "nodes": [{"mesh": 0, "scale": [-1.0, 1.0, 1.0]}],
            "scenes": [{"nodes": [0]}]
        }))
        .unwrap()
    }

    #[test]
    fn sparse_values_and_mirroring_nodes_are_applied() {
        let model = read_model_bytes(&sparse_gltf(), None).unwrap();
        assert_eq!(
            model.mesh.positions,
            vec![[0.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 5.0, 0.0]]
        );
        // The mirror turns the winding inside out; the reader swaps two corners to keep the face outward.
        assert_eq!(model.mesh.indices, vec![0, 2, 1]);
        let packed = read_packed_bytes(&sparse_gltf(), None).unwrap();
        assert_eq!(packed.primitives[0].positions.count, 3);
    }

    #[test]
    fn a_sparse_index_out_of_range_is_refused() {
        let text = String::from_utf8(sparse_gltf())
            .unwrap()
            .replace("\"count\":1", "\"count\":1,\"x\":0");
        // Point the sparse index at vertex 2 of 3 but shrink the accessor to 2 elements.
        let text = text.replace("\"count\":3", "\"count\":2");
        let message = read_model_bytes(text.as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("sparse index 2 is not below 2"),
            "{message}"
        );
    }
}
