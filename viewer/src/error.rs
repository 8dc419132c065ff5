//! What can go wrong while viewing, rendering and measuring.

use std::path::PathBuf;

/// A viewer failure; messages name the file last.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewerError {
    /// The model could not be read.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// No adapter, no device, or the GPU failed.
    #[error("graphics: {0}")]
    Gpu(String),
    /// A file could not be read or written.
    #[error("{source}: {}", path.display())]
    Io {
        /// The cause.
        source: std::io::Error,
        /// The file.
        path: PathBuf,
    },
    /// A request the viewer cannot carry out (bad size, empty model...).
    #[error("{0}")]
    Invalid(String),
}
