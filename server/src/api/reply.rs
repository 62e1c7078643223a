//! What a request handler gives back to its connection: a whole frame, a
//! frame assembled from parts (file ranges sent with sendfile among them),
//! nothing (acks=0), a close, or an answer still to come. Shared by every
//! handler in `api/` and read by `connection.rs`, so it lives with the
//! handlers and neither module depends on the other's internals.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

/// A piece of a response.
pub enum Part {
    Bytes(Bytes),
    /// A range of a segment file, sent with sendfile.
    File {
        fd: Arc<OwnedFd>,
        position: u64,
        len: u64,
    },
}

/// What a request gets back.
pub enum Reply {
    /// acks=0 produce: nothing is sent.
    Nothing,
    /// The whole response frame, size prefix included.
    Frame(Bytes),
    /// A response assembled from parts (size prefix in the first).
    Parts(Vec<Part>),
    /// Malformed or unsupported: close the connection, as Kafka does.
    Close(String),
    /// The request took its place in order (a produce appended in memory);
    /// its answer comes when this completes. Later requests may be read and
    /// started meanwhile; answers still go out in request order.
    Later(Pin<Box<dyn Future<Output = Reply>>>),
}
