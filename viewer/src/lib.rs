//! The viewer: one wgpu renderer for desktop, web and headless rendering, and the comparison tools.
//!
//! Not built yet (issues 7, 8 and 9). The crate exists so that the workspace has its final shape and the
//! dependency-direction check covers it from the start: it may never depend on the store's server code.
