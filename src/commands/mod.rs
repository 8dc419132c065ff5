//! One module per subcommand: parse arguments, call the crates, report.

pub mod case;
pub mod compare;
pub mod demo;
pub mod evidence;
pub mod info;
pub mod ingest;
pub mod parse;
pub mod render;
pub mod serve;
pub mod share;
pub mod transfer;
pub mod upload;
pub mod user;
pub mod verify;
pub mod view;
