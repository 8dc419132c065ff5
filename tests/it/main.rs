//! End-to-end tests of the `exhibit` binary and the crates it wires together: one test binary,
//! one module per feature.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::unreadable_literal,
    reason = "tests fail loudly, read fixtures directly, and quote other tools' figures as printed"
)]

mod architecture;
mod cli;
mod compare;
mod desktop;
mod gltf_files;
mod golden;
mod render;
mod scans;
mod streaming;
mod support;
