//! The evidence mesh codec: mesh and point-cloud types, quantization with a measured error bound,
//! meshoptimizer encoding, and glTF 2.0 binary (GLB) writing and reading, with the manifest that
//! records where a model came from and how far it may be from the truth.
//!
//! Goals: a model small enough for a phone and an appellate transfer, never silently wrong.
//! The encoder decodes what it wrote and measures the real error before it returns; it refuses to
//! produce a file whose error exceeds the requested precision. Output is byte-identical for the same
//! input on any number of threads.
//!
//! ```
//! use codec::{EncodeConfig, Mesh, Provenance, encode_glb, read_model_bytes};
//!
//! let mesh = Mesh {
//!     positions: vec![[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]],
//!     indices: vec![0, 1, 2],
//!     ..Mesh::default()
//! };
//! let encoded = encode_glb(&mesh, &EncodeConfig { precision_m: 0.05e-3 }, Provenance::default())?;
//! assert!(encoded.stats.max_position_error_m <= 0.05e-3);
//!
//! let model = read_model_bytes(&encoded.glb, None)?;
//! assert_eq!(model.mesh.triangle_count(), 1);
//! # Ok::<(), codec::CodecError>(())
//! ```

pub mod colour;
pub mod distance;
#[cfg(not(target_arch = "wasm32"))]
mod encode;
mod error;
pub mod glb;
pub mod linalg;
pub mod manifest;
mod mesh;
pub mod meshopt_decode;
pub mod quantize;
mod read;
pub mod texture;

#[cfg(not(target_arch = "wasm32"))]
pub use encode::{
    DEFAULT_PRECISION_M, EncodeConfig, EncodeStats, EncodedModel, encode_glb, encode_glb_levels,
    encode_point_cloud_glb,
};
pub use error::CodecError;
pub use manifest::{InputRecord, LevelRecord, Manifest, Provenance, StepRecord};
pub use mesh::{Mesh, PointCloud, is_unit, linear_to_srgb, srgb_to_linear};
pub use read::{
    Model, PackedAttribute, PackedModel, PackedPrimitive, level_prefix_len, read_manifest_bytes,
    read_model, read_model_bytes, read_model_level_bytes, read_packed_bytes,
    read_packed_level_bytes,
};
pub use texture::{ImageFormat, ImageLoss, ImageOrigin, NO_IMAGE, TextureImage, Texturing};

// Decoded buffers are reinterpreted in place (glTF is little-endian), so a big-endian build would misread them.
#[cfg(target_endian = "big")]
compile_error!(
    "exhibit's codec assumes a little-endian machine, as glTF buffers are little-endian"
);
