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
    Reader::new(root, bin, base_dir, format)?.read()
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
    images: Vec<serde_json::Value>,
    #[serde(default)]
    skins: Vec<serde_json::Value>,
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
}

fn triangles_mode() -> u32 {
    4
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    children: Vec<usize>,
    mesh: Option<usize>,
    matrix: Option<[f32; 16]>,
    translation: Option<[f32; 3]>,
    rotation: Option<[f32; 4]>,
    scale: Option<[f32; 3]>,
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
    decoded_views: BTreeMap<usize, Vec<u8>>,
    notes: Vec<String>,
    format: &'static str,
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
        if !self.root.images.is_empty() {
            self.notes.push(format!(
                "{} texture image(s) not read: exhibit keeps geometry and vertex colours",
                self.root.images.len()
            ));
        }
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
        })
    }

    fn manifest(&self) -> (Option<Manifest>, Option<String>) {
        let Some(value) = self
            .root
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
        let (mode, attributes, indices, has_targets) = (
            prim.mode,
            prim.attributes.clone(),
            prim.indices,
            !prim.targets.is_empty(),
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
        let positions = self.read_vec3(position_accessor, "POSITION")?;
        let vertex_count = positions.len();
        let attribute = |name: &str| attributes.get(name).copied();
        let normals = match attribute("NORMAL") {
            Some(a) => Some(self.read_vec3(a, "NORMAL")?),
            None => None,
        };
        let colors = match attribute("COLOR_0") {
            Some(a) => Some(self.read_colors(a)?),
            None => None,
        };
        let measured = match attribute("_MEASURED") {
            Some(a) => Some(
                self.read_scalars(a)?
                    .iter()
                    .map(|&v| v != 0.0)
                    .collect::<Vec<bool>>(),
            ),
            None => None,
        };
        for (name, len) in [
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
                if let Some(bad) = values.iter().find(|&&i| i as usize >= vertex_count) {
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
        let part = Part {
            positions,
            normals,
            colors,
            measured,
            world: *world,
            present,
        };
        if mode == 0 {
            builder.add_points(part, &raw_indices);
        } else {
            let triangles = to_triangle_list(mode, &raw_indices);
            builder.add_triangles(part, &triangles);
        }
        Ok(())
    }

    fn read_vec3(&mut self, accessor: usize, what: &str) -> Result<Vec<[f64; 3]>, CodecError> {
        let (values, components) = self.read_accessor(accessor)?;
        if components != 3 {
            return Err(gltf_error(
                format!("/accessors/{accessor}"),
                format!("{what} must be VEC3"),
            ));
        }
        Ok(values.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
    }

    fn read_scalars(&mut self, accessor: usize) -> Result<Vec<f64>, CodecError> {
        let (values, components) = self.read_accessor(accessor)?;
        if components != 1 {
            return Err(gltf_error(
                format!("/accessors/{accessor}"),
                "must be SCALAR",
            ));
        }
        Ok(values)
    }

    fn read_indices(&mut self, accessor: usize) -> Result<Vec<u32>, CodecError> {
        let Some(component_type) = self.root.accessors.get(accessor).map(|a| a.component_type)
        else {
            return Err(gltf_error(
                format!("/accessors/{accessor}"),
                "accessor does not exist",
            ));
        };
        if !matches!(component_type, 5121 | 5123 | 5125) {
            return Err(gltf_error(
                format!("/accessors/{accessor}"),
                "indices must be unsigned byte, short or int",
            ));
        }
        Ok(self
            .read_scalars(accessor)?
            .into_iter()
            .map(|v| v as u32)
            .collect())
    }

    fn read_colors(&mut self, accessor: usize) -> Result<Vec<[u8; 4]>, CodecError> {
        let (values, components) = self.read_accessor(accessor)?;
        if components != 3 && components != 4 {
            return Err(gltf_error(
                format!("/accessors/{accessor}"),
                "COLOR_0 must be VEC3 or VEC4",
            ));
        }
        // Our own files store 16-bit linear colour; map it back exactly. Other files: linear floats to sRGB.
        let is_u16 = self.root.accessors[accessor].component_type == 5123;
        Ok(values
            .chunks_exact(components)
            .map(|c| {
                let alpha = if components == 4 { c[3] } else { 1.0 };
                if is_u16 {
                    let q = [c[0], c[1], c[2], alpha].map(|v| (v * 65535.0).round() as u16);
                    crate::quantize::color_from_linear_u16(q)
                } else {
                    [
                        crate::mesh::linear_to_srgb(c[0]),
                        crate::mesh::linear_to_srgb(c[1]),
                        crate::mesh::linear_to_srgb(c[2]),
                        (alpha.clamp(0.0, 1.0) * 255.0).round() as u8,
                    ]
                }
            })
            .collect())
    }

    /// Read an accessor as f64 values (normalized integers mapped as the specification says).
    fn read_accessor(&mut self, index: usize) -> Result<(Vec<f64>, usize), CodecError> {
        let pointer = format!("/accessors/{index}");
        let Some(accessor) = self.root.accessors.get(index) else {
            return Err(gltf_error(pointer, "accessor does not exist"));
        };
        let components = match accessor.kind.as_str() {
            "SCALAR" => 1,
            "VEC2" => 2,
            "VEC3" => 3,
            "VEC4" | "MAT2" => 4,
            "MAT3" => 9,
            "MAT4" => 16,
            other => {
                return Err(gltf_error(
                    format!("{pointer}/type"),
                    format!("unknown type {other:?}"),
                ));
            }
        };
        let component_size = component_size(accessor.component_type).ok_or_else(|| {
            gltf_error(
                format!("{pointer}/componentType"),
                format!("unknown component type {}", accessor.component_type),
            )
        })?;
        let (count, byte_offset, component_type, normalized) = (
            accessor.count,
            accessor.byte_offset,
            accessor.component_type,
            accessor.normalized,
        );
        let element_size = components * component_size;
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
            let declared_stride = self.root.buffer_views.get(view).and_then(|v| v.byte_stride);
            let stride = declared_stride.unwrap_or(element_size);
            if stride < element_size {
                return Err(gltf_error(
                    pointer,
                    format!(
                        "byteStride {stride} is smaller than one element ({element_size} bytes)"
                    ),
                ));
            }
            let data = self.view_bytes(view)?;
            let needed = if count == 0 {
                0
            } else {
                (count - 1)
                    .saturating_mul(stride)
                    .saturating_add(element_size)
            };
            if byte_offset.saturating_add(needed) > data.len() {
                return Err(gltf_error(
                    pointer,
                    format!(
                        "{count} elements at offset {byte_offset} need {needed} bytes, the view has {}",
                        data.len()
                    ),
                ));
            }
            let mut values = Vec::with_capacity(count * components);
            for e in 0..count {
                let start = byte_offset + e * stride;
                for c in 0..components {
                    let at = start + c * component_size;
                    values.push(component(
                        &data[at..at + component_size],
                        component_type,
                        normalized,
                    ));
                }
            }
            values
        } else {
            // Without a view the values are zeros (and usually sparse). Zeros cost memory but no bytes,
            // so a bound keeps a tiny file from asking for gigabytes.
            if count > 1 << 24 {
                return Err(gltf_error(
                    pointer,
                    format!("{count} elements without a bufferView"),
                ));
            }
            vec![0.0; count * components]
        };
        if let Some(sparse) = sparse {
            let layout = Layout {
                count,
                components,
                component_size,
                component_type,
                normalized,
            };
            self.apply_sparse(&mut values, sparse, &layout, &pointer)?;
        }
        Ok((values, components))
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
        for s in 0..sparse_count {
            let at = index_offset + s * index_size;
            let target = component(&index_data[at..at + index_size], index_type, false) as usize;
            if target >= count {
                return Err(gltf_error(
                    format!("{pointer}/sparse"),
                    format!("sparse index {target} is not below {count}"),
                ));
            }
            for c in 0..components {
                let at = value_offset + s * element_size + c * component_size;
                values[target * components + c] = component(
                    &value_data[at..at + component_size],
                    component_type,
                    normalized,
                );
            }
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
            return Ok(decoded);
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

/// One component as f64; `bytes` has exactly the component's size.
fn component(bytes: &[u8], component_type: u32, normalized: bool) -> f64 {
    let raw = match component_type {
        5120 => f64::from(bytes[0].cast_signed()),
        5121 => f64::from(bytes[0]),
        5122 => f64::from(i16::from_le_bytes([bytes[0], bytes[1]])),
        5123 => f64::from(u16::from_le_bytes([bytes[0], bytes[1]])),
        5125 => f64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        _ => f64::from(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
    };
    if !normalized {
        return raw;
    }
    match component_type {
        5120 => (raw / 127.0).max(-1.0),
        5121 => raw / 255.0,
        5122 => (raw / 32767.0).max(-1.0),
        5123 => raw / 65535.0,
        5125 => raw / f64::from(u32::MAX),
        _ => raw,
    }
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
fn decode_meshopt(source: &[u8], m: &MeshoptView, view_length: usize) -> Result<Vec<u8>, String> {
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
            let mut bytes = decode_attribute_bytes(source, m.count, m.byte_stride)?;
            apply_filter(&mut bytes, filter, m.byte_stride)?;
            Ok(bytes)
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
                    let v: Vec<u16> = if triangles {
                        meshopt::decode_index_buffer(source, m.count)
                    } else {
                        meshopt::decode_index_sequence(source, m.count)
                    }
                    .map_err(|e| format!("index data does not decode: {e}"))?;
                    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
                4 => {
                    let v: Vec<u32> = if triangles {
                        meshopt::decode_index_buffer(source, m.count)
                    } else {
                        meshopt::decode_index_sequence(source, m.count)
                    }
                    .map_err(|e| format!("index data does not decode: {e}"))?;
                    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
                other => Err(format!("index byteStride {other} is not 2 or 4")),
            }
        }
        other => Err(format!("unknown meshopt mode {other:?}")),
    }
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

fn decode_words<const K: usize>(source: &[u8], count: usize) -> Result<Vec<u8>, String> {
    let v: Vec<Words<K>> = meshopt::decode_vertex_buffer(source, count)
        .map_err(|e| format!("vertex data does not decode: {e}"))?;
    Ok(v.iter()
        .flat_map(|w| w.0)
        .flat_map(u32::to_le_bytes)
        .collect())
}

macro_rules! decode_by_stride {
    ($source:expr, $count:expr, $stride:expr, $($k:literal)*) => {
        match $stride / 4 {
            $($k => decode_words::<$k>($source, $count),)*
            _ => Err(format!("byteStride {} is not supported", $stride)),
        }
    };
}

fn decode_attribute_bytes(source: &[u8], count: usize, stride: usize) -> Result<Vec<u8>, String> {
    decode_by_stride!(source, count, stride,
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64)
}

fn apply_filter(bytes: &mut [u8], filter: &str, stride: usize) -> Result<(), String> {
    match (filter, stride) {
        ("NONE", _) => Ok(()),
        ("OCTAHEDRAL", 4) => {
            let mut v: Vec<[i8; 4]> = bytes
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]].map(u8::cast_signed))
                .collect();
            meshopt::decode_filter_oct(&mut v);
            for (out, value) in bytes.chunks_exact_mut(4).zip(v) {
                out.copy_from_slice(&value.map(|x| x as u8));
            }
            Ok(())
        }
        ("OCTAHEDRAL" | "QUATERNION", 8) => {
            let mut v: Vec<[i16; 4]> = bytes
                .chunks_exact(8)
                .map(|c| [0, 1, 2, 3].map(|i| i16::from_le_bytes([c[2 * i], c[2 * i + 1]])))
                .collect();
            if filter == "OCTAHEDRAL" {
                meshopt::decode_filter_oct(&mut v);
            } else {
                meshopt::decode_filter_quat(&mut v);
            }
            for (out, value) in bytes.chunks_exact_mut(8).zip(v) {
                for i in 0..4 {
                    out[2 * i..2 * i + 2].copy_from_slice(&value[i].to_le_bytes());
                }
            }
            Ok(())
        }
        ("EXPONENTIAL", _) => {
            for word in bytes.chunks_exact_mut(4) {
                let mut v = [[u32::from_le_bytes([word[0], word[1], word[2], word[3]])]];
                meshopt::decode_filter_exp(&mut v);
                word.copy_from_slice(&v[0][0].to_le_bytes());
            }
            Ok(())
        }
        (other, stride) => Err(format!(
            "filter {other} with byteStride {stride} is not supported"
        )),
    }
}

fn to_triangle_list(mode: u32, indices: &[u32]) -> Vec<[u32; 3]> {
    match mode {
        5 => (2..indices.len())
            .map(|i| {
                // Every other triangle of a strip is flipped to keep the winding.
                if i % 2 == 0 {
                    [indices[i - 2], indices[i - 1], indices[i]]
                } else {
                    [indices[i - 1], indices[i - 2], indices[i]]
                }
            })
            .collect(),
        6 => (2..indices.len())
            .map(|i| [indices[0], indices[i - 1], indices[i]])
            .collect(),
        _ => indices
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect(),
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

/// One primitive's attributes, before they join the scene.
struct Part {
    positions: Vec<[f64; 3]>,
    normals: Option<Vec<[f64; 3]>>,
    colors: Option<Vec<[u8; 4]>>,
    measured: Option<Vec<bool>>,
    world: Matrix,
    present: Vec<String>,
}

/// Accumulates primitives into one mesh and one cloud; attributes present in only some parts are
/// filled for the others and a note says so.
#[derive(Default)]
struct SceneBuilder {
    origin_m: [f64; 3],
    mesh_parts: Vec<(Part, Vec<[u32; 3]>)>,
    point_parts: Vec<(Part, Vec<u32>)>,
    notes: Vec<String>,
}

impl SceneBuilder {
    fn add_triangles(&mut self, part: Part, triangles: &[[u32; 3]]) {
        let flip = determinant(&part.world) < 0.0;
        let triangles = triangles
            .iter()
            .map(|&[a, b, c]| if flip { [a, c, b] } else { [a, b, c] })
            .collect();
        self.mesh_parts.push((part, triangles));
    }

    fn add_points(&mut self, part: Part, indices: &[u32]) {
        self.point_parts.push((part, indices.to_vec()));
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
            |f: fn(&Part) -> bool, parts: &[(Part, Vec<[u32; 3]>)]| parts.iter().any(|(p, _)| f(p));
        let want_normals =
            !self.mesh_parts.is_empty() && self.mesh_parts.iter().all(|(p, _)| p.normals.is_some());
        let want_colors = any(|p| p.colors.is_some(), &self.mesh_parts);
        let want_measured = any(|p| p.measured.is_some(), &self.mesh_parts);
        if any(|p| p.normals.is_some(), &self.mesh_parts) && !want_normals {
            self.notes.push(
                "normals present on only some primitives: left out, a viewer recomputes them"
                    .into(),
            );
        }
        let mut normals = Vec::new();
        let mut colors = Vec::new();
        let mut measured = Vec::new();
        let mut bad_normals = 0usize;
        for (part, triangles) in &self.mesh_parts {
            let base = mesh.positions.len() as u32;
            let normal_m = normal_matrix(&part.world);
            for (v, p) in part.positions.iter().enumerate() {
                let w = transform_point(&part.world, *p);
                mesh.positions.push(w.map(|c| c as f32));
                if want_normals {
                    let n = part.normals.as_ref().map_or([0.0; 3], |n| n[v]);
                    let t = [0, 1, 2].map(|r| {
                        normal_m[r] * n[0] + normal_m[3 + r] * n[1] + normal_m[6 + r] * n[2]
                    });
                    let length = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
                    if length > 0.0 && length.is_finite() {
                        normals.push(t.map(|c| (c / length) as f32));
                    } else {
                        bad_normals += 1;
                        normals.push([0.0, 0.0, 1.0]);
                    }
                }
                if want_colors {
                    colors.push(part.colors.as_ref().map_or([255; 4], |c| c[v]));
                }
                if want_measured {
                    measured.push(part.measured.as_ref().is_none_or(|m| m[v]));
                }
            }
            mesh.indices
                .extend(triangles.iter().flat_map(|t| t.map(|i| i + base)));
        }
        if bad_normals > 0 {
            self.notes.push(format!(
                "{bad_normals} zero-length normals: normals left out, a viewer recomputes them"
            ));
            normals.clear();
        }
        mesh.normals = (want_normals && bad_normals == 0).then_some(normals);
        mesh.colors_srgb = want_colors.then_some(colors);
        mesh.measured = want_measured.then_some(measured);

        let mut points = PointCloud {
            origin_m: origin,
            ..PointCloud::default()
        };
        let want_point_colors = self.point_parts.iter().any(|(p, _)| p.colors.is_some());
        let mut point_colors = Vec::new();
        for (part, indices) in &self.point_parts {
            for &i in indices {
                let w = transform_point(&part.world, part.positions[i as usize]);
                points.positions.push(w.map(|c| c as f32));
                if want_point_colors {
                    point_colors.push(part.colors.as_ref().map_or([255; 4], |c| c[i as usize]));
                }
            }
        }
        points.colors_srgb = want_point_colors.then_some(point_colors);
        (mesh, points, attributes)
    }
}
