//! Errors of the codec: what went wrong, with where, and the file last.

use std::path::PathBuf;

/// Everything the codec can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The mesh handed to the encoder breaks an invariant of `Mesh`.
    #[error("invalid mesh: {reason}")]
    InvalidMesh { reason: String },

    /// The requested precision is not a positive, finite length.
    #[error("invalid precision {precision_mm} mm: it must be a positive finite number")]
    InvalidPrecision { precision_mm: f64 },

    /// After encoding, the decoded copy differs from the input by more than the requested bound.
    /// This is a bug guard: the encoder refuses to write a file whose recorded error would lie.
    #[error(
        "encoded positions deviate by {max_error_mm} mm, more than the requested {precision_mm} mm"
    )]
    PrecisionNotMet {
        max_error_mm: f64,
        precision_mm: f64,
    },

    /// meshoptimizer refused a buffer.
    #[error("meshopt {what}: {message}")]
    Meshopt { what: &'static str, message: String },

    /// The GLB container is malformed at a byte offset.
    #[error("malformed GLB at byte {offset}: {reason} in {path}")]
    Glb {
        offset: u64,
        reason: String,
        path: PathBuf,
    },

    /// The glTF JSON is not valid JSON or not the expected shape.
    #[error("invalid glTF JSON at line {line} column {column}: {message} in {path}")]
    Json {
        line: usize,
        column: usize,
        message: String,
        path: PathBuf,
    },

    /// The glTF document is well-formed JSON but refers to things that do not exist or do not fit.
    #[error("invalid glTF at {pointer}: {reason} in {path}")]
    Gltf {
        pointer: String,
        reason: String,
        path: PathBuf,
    },

    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        #[source]
        source: std::io::Error,
        path: PathBuf,
    },
}

impl CodecError {
    /// Attach a path to an error built before the path was known (readers of byte slices).
    #[must_use]
    pub fn with_path(self, new_path: &std::path::Path) -> Self {
        match self {
            CodecError::Glb { offset, reason, .. } => CodecError::Glb {
                offset,
                reason,
                path: new_path.to_path_buf(),
            },
            CodecError::Json {
                line,
                column,
                message,
                ..
            } => CodecError::Json {
                line,
                column,
                message,
                path: new_path.to_path_buf(),
            },
            CodecError::Gltf {
                pointer, reason, ..
            } => CodecError::Gltf {
                pointer,
                reason,
                path: new_path.to_path_buf(),
            },
            other => other,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl From<meshopt::Error> for CodecError {
    fn from(error: meshopt::Error) -> Self {
        CodecError::Meshopt {
            what: "codec",
            message: error.to_string(),
        }
    }
}
