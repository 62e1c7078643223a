//! Ringlog's storage engine.
pub mod error;
pub mod limits;
pub mod offset;
pub mod record_batch;
pub mod segment;
