//! Records: the store's typed rows and the SQL that reads and writes them. The floor under services, handlers
//! and pages: it imports only the database, the validators and the error type, never anything above it.
//!
//! Each type here is also the wire shape the API answers with (`Serialize`), and the shape a transfer bundle
//! carries (`Deserialize`), so a field has one name and one type everywhere.

pub mod cases;
pub mod comparisons;
pub mod confirmations;
pub mod events;
pub mod evidence;
pub mod keys;
pub mod models;
pub mod previews;
pub mod sessions;
pub mod shares;
pub mod transfers;
pub mod uploads;
pub mod users;

use crate::error::ApiError;

/// A database error while doing `what`.
pub(crate) fn db_error(what: &'static str) -> impl Fn(sqlx::Error) -> ApiError {
    move |e| ApiError::database(what, &e)
}
