//! The court store: cases, evidence, immutable model versions, blobs by hash, custody log, share links.
//!
//! Not built yet (issues 5 and 6). The crate exists so that the workspace has its final shape and the
//! dependency-direction check covers it from the start: no wgpu or winit may ever appear under it.
