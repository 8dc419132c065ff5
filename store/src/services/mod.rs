//! Services: one use case each, in one transaction with its custody event inside it. They sit on the records
//! and are called by the handlers; nothing here reads a request or writes a response.

pub mod auth;
pub mod blob_reads;
pub mod bundle;
pub mod log;
pub mod mutation;
pub mod scrub;
pub mod sign_in;
