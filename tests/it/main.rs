//! End-to-end tests of the `exhibit` binary and the crates it wires together: one test binary,
//! one module per feature.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::unreadable_literal,
    reason = "tests fail loudly, read fixtures directly, and quote other tools' figures as printed"
)]
#![allow(
    clippy::too_many_lines,
    clippy::doc_markdown,
    reason = "an end-to-end scenario reads best as one story; test docs name tools, not code"
)]

mod architecture;
mod cli;
mod compare;
mod court_cli;
mod custody;
mod demo;
mod desktop;
mod gltf_files;
mod golden;
mod render;
mod scans;
mod store;
mod store_durability;
mod store_security;
mod store_support;
mod streaming;
mod support;
mod textures;
mod web;
