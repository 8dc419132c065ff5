//! The store in process: `router().oneshot(request)` against SQLite in a temporary folder, no sockets and no
//! other process. Fast checks of routes, roles and the floors issue 21 asked for; the end-to-end tests of the
//! `exhibit` binary (tests/it at the workspace root) run the same store as a server.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::too_many_lines,
    reason = "tests fail loudly, read fixtures directly, and read best as one story"
)]

mod app;
mod openapi;
mod roles;
mod security;
mod sign_in;
