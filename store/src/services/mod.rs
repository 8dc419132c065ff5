//! Services: one use case each, in one transaction with its custody event inside it. They sit on the records
//! and are called by the handlers; nothing here reads a request or writes a response.

pub mod mutation;
