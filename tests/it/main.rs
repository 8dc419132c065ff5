//! End-to-end tests of the `exhibit` binary and the crates it wires together: one test binary,
//! one module per feature.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests fail loudly, and read fixtures directly"
)]

mod architecture;
mod cli;
mod gltf_files;
mod scans;
mod support;
