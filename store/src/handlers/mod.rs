//! Handlers: extract what a request carries, authorize, call the records and services, respond (JSON, or a page
//! from `pages`). One module per part of the API; they share nothing but what lies below them.

pub mod api;
pub mod app_files;
pub mod comparisons;
pub mod confirm;
pub mod download;
pub mod extract;
pub mod log_api;
pub mod openapi;
pub mod report;
pub mod scrub;
pub mod share;
pub mod sign_in;
pub mod transfer;
pub mod tus;
