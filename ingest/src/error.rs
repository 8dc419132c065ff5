//! Errors of the readers and the pipeline, each naming the file and where in it.

use std::path::PathBuf;

/// Everything ingest can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A text format is malformed on a line.
    #[error("{reason} at line {line} in {path}")]
    Line {
        line: u64,
        reason: String,
        path: PathBuf,
    },

    /// A binary format is malformed at a byte offset.
    #[error("{reason} at byte {offset} in {path}")]
    Byte {
        offset: u64,
        reason: String,
        path: PathBuf,
    },

    /// The file is well-formed but not something this step can use.
    #[error("{reason} in {path}")]
    Unsupported { reason: String, path: PathBuf },

    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        #[source]
        source: std::io::Error,
        path: PathBuf,
    },

    /// The codec refused the result.
    #[error("cannot encode the model from {path}")]
    Codec {
        #[source]
        source: codec::CodecError,
        path: PathBuf,
    },
}

/// Where in a file a problem is, before the file's path is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum At {
    Line(u64),
    Byte(u64),
}

/// A reader's error without the path; [`ParseError::in_file`] attaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub at: At,
    pub reason: String,
}

impl ParseError {
    pub fn line(line: u64, reason: impl Into<String>) -> Self {
        Self {
            at: At::Line(line),
            reason: reason.into(),
        }
    }

    pub fn byte(offset: u64, reason: impl Into<String>) -> Self {
        Self {
            at: At::Byte(offset),
            reason: reason.into(),
        }
    }

    pub fn in_file(self, path: &std::path::Path) -> IngestError {
        let path = path.to_path_buf();
        match self.at {
            At::Line(line) => IngestError::Line {
                line,
                reason: self.reason,
                path,
            },
            At::Byte(offset) => IngestError::Byte {
                offset,
                reason: self.reason,
                path,
            },
        }
    }
}
