//! The whole request path in one process, without sockets: for the
//! request-path fuzz target (`fuzz/fuzz_targets/request.rs`) and the replay
//! of its corpus as a test. A [`RequestHarness`] runs one real shard (a
//! glommio executor on a thread of its own, partitions in a data directory
//! of the caller's) and answers request frames through the same
//! `api::handle` the connections use: header, bounded body decode, legacy
//! conversion, dispatch, the handler's work on the engine, response encode.
//! File ranges of a Fetch answer are read back so the caller sees the bytes
//! a socket would have carried.
//!
//! [`check_request`] is what the fuzz target asserts of every input: no
//! panic, and an answer (if any) that carries the request's correlation id
//! and decodes whole at the request's version.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;

use bytes::{Buf, Bytes};

use crate::api::reply::{Part, Reply};
use crate::config::BrokerConfig;
use crate::shard::{Job, Shard};
use crate::topics::TopicTable;

/// What one request frame got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The response frame, size prefix included.
    Frame(Vec<u8>),
    /// No answer (an acks=0 produce).
    Nothing,
    /// The broker would close the connection, for this reason.
    Closed(String),
    /// No answer within the harness's deadline (`ANSWER_DEADLINE`): a long
    /// poll or a group waiting for members, as a client may ask for.
    Pending,
}

/// How long the harness waits for one answer. A Fetch may ask to wait up
/// to `max_wait_ms` and a JoinGroup for its rebalance: the fuzz target must
/// not spend its time in such waits, so a request still waiting is dropped
/// (as a connection that closes drops it).
const ANSWER_DEADLINE: std::time::Duration = std::time::Duration::from_millis(200);

type Work = (Bytes, mpsc::Sender<Answer>);

/// One shard answering frames on its own thread. Dropping the harness
/// stops the shard and closes its partitions.
pub struct RequestHarness {
    work: Option<mpsc::Sender<Work>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RequestHarness {
    /// Starts a one-shard broker whose `log.dirs` is `data`; the overrides
    /// are Kafka keys, as `ringlog serve --override` takes them.
    pub fn start(data: &Path, overrides: &[(&str, &str)]) -> Result<RequestHarness, String> {
        let mut config = BrokerConfig::embedded_default();
        config
            .set("log.dirs", &data.display().to_string())
            .and_then(|()| config.set("num.shards", "1"))
            .map_err(|error| error.to_string())?;
        for (key, value) in overrides {
            config.set(key, value).map_err(|error| error.to_string())?;
        }
        std::fs::create_dir_all(data).map_err(|error| error.to_string())?;
        let table = TopicTable::load(&config.log_dir())?;
        let config = Arc::new(config);
        let (work, queue) = mpsc::channel::<Work>();
        let (ready, started) = mpsc::channel::<Result<(), String>>();
        let thread = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name("harness-shard")
            .io_memory(engine::runtime::IO_MEMORY_BYTES)
            .spawn(move || async move { serve(config, table, queue, ready).await })
            .map_err(|error| format!("cannot start the shard: {error}"))?;
        started
            .recv()
            .map_err(|_| "the shard stopped while starting".to_string())??;
        Ok(RequestHarness {
            work: Some(work),
            thread: Some(std::thread::spawn(move || {
                let _ = thread.join();
            })),
        })
    }

    /// Answers one request frame (without its size prefix).
    pub fn request(&self, frame: Bytes) -> Answer {
        let (sender, answer) = mpsc::channel();
        let work = self.work.as_ref().expect("running");
        if work.send((frame, sender)).is_err() {
            return Answer::Closed("the shard has stopped".into());
        }
        answer
            .recv()
            .unwrap_or_else(|_| Answer::Closed("the shard has stopped".into()))
    }
}

impl Drop for RequestHarness {
    fn drop(&mut self) {
        drop(self.work.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    config: Arc<BrokerConfig>,
    table: TopicTable,
    queue: mpsc::Receiver<Work>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let mesh = glommio::channels::channel_mesh::MeshBuilder::<Job, _>::full(1, 16);
    let Ok((senders, receivers)) = mesh.join().await else {
        let _ = ready.send(Err("joining the shard mesh failed".into()));
        return;
    };
    let shard = Rc::new(Shard::new(0, 1, config, senders));
    shard.spawn_job_receivers(receivers);
    let opened = match shard.apply_topics(table).await {
        Ok(()) => crate::group::start(&shard).await,
        failed => failed,
    };
    let failed = opened.is_err();
    let _ = ready.send(opened);
    if !failed {
        // Blocking on the queue between requests is fine: this executor
        // runs nothing else, and every request is finished before the next.
        while let Ok((frame, reply_to)) = queue.recv() {
            let deadline = std::time::Instant::now() + ANSWER_DEADLINE;
            let answering = async { settle(crate::api::handle(&shard, frame).await).await };
            let answer = crate::shard::until(deadline, answering)
                .await
                .unwrap_or(Answer::Pending);
            let _ = reply_to.send(answer);
        }
    }
    shard.stopping.set(true);
    shard.close_partitions().await;
    crate::group::stop(&shard).await;
}

/// Waits for an answer still to come and reads file parts into memory.
async fn settle(reply: Reply) -> Answer {
    let mut reply = reply;
    loop {
        return match reply {
            Reply::Later(answer) => {
                reply = answer.await;
                continue;
            }
            Reply::Nothing => Answer::Nothing,
            Reply::Close(reason) => Answer::Closed(reason),
            Reply::Frame(bytes) => Answer::Frame(bytes.to_vec()),
            Reply::Parts(parts) => {
                let mut frame = Vec::new();
                for part in parts {
                    match part {
                        Part::Bytes(bytes) => frame.extend_from_slice(&bytes),
                        Part::File { fd, position, len } => {
                            let mut buffer = vec![0u8; len as usize];
                            let read = nix::sys::uio::pread(&*fd, &mut buffer, position as i64);
                            match read {
                                Ok(count) if count == buffer.len() => {}
                                _ => {
                                    return Answer::Closed(format!("reading fd {}", fd.as_raw_fd()))
                                }
                            }
                            frame.extend_from_slice(&buffer);
                        }
                    }
                }
                Answer::Frame(frame)
            }
        };
    }
}

/// Sends `frame` through the harness and checks the answer: a response
/// frame carries the request's correlation id, its size prefix matches,
/// and its body decodes whole at the request's version. Panics on a
/// violation (the fuzz target's finding).
pub fn check_request(harness: &RequestHarness, frame: &[u8]) {
    let answer = harness.request(Bytes::copy_from_slice(frame));
    let Answer::Frame(response) = answer else {
        return;
    };
    // Only a frame the broker understood is answered.
    let request = crate::api::decode_request(Bytes::copy_from_slice(frame))
        .map(|request| request.preamble)
        .or_else(|error| match error {
            crate::api::RequestError::UnsupportedVersion(preamble) => Ok(preamble),
            other => Err(other),
        })
        .unwrap_or_else(|error| panic!("answered an undecodable request ({error})"));
    let size = i32::from_be_bytes(response[..4].try_into().expect("a size prefix"));
    assert_eq!(size as usize, response.len() - 4, "size prefix");
    let correlation_id = i32::from_be_bytes(response[4..8].try_into().expect("an id"));
    assert_eq!(correlation_id, request.correlation_id, "correlation id");
    let decoded = decode_response(request, Bytes::copy_from_slice(&response[4..]));
    if let Err(error) = decoded {
        panic!(
            "the {:?} v{} answer does not decode: {error}",
            request.api_key, request.api_version
        );
    }
}

/// Decodes a response (header and body) at the request's version with the
/// codec that knows it, requiring every byte consumed.
fn decode_response(preamble: crate::api::Preamble, mut bytes: Bytes) -> Result<(), String> {
    use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
    use kafka_protocol::protocol::Decodable;
    let key = preamble.api_key;
    let version = preamble.api_version;
    // ApiVersions answers a version it lacks in v0.
    let valid = crate::api::versions::supported(key).is_some_and(|range| range.contains(&version));
    let version = if key == ApiKey::ApiVersions && !valid {
        0
    } else {
        version
    };
    ResponseHeader::decode(&mut bytes, key.response_header_version(version))
        .map_err(|error| format!("header: {error}"))?;
    if version >= key.valid_versions().min {
        ResponseKind::decode(key, &mut bytes, version).map_err(|error| error.to_string())?;
    } else {
        use kafka_protocol_legacy::messages as old;
        let old_key = old::ApiKey::try_from(key as i16).map_err(|_| "no legacy key")?;
        old::ResponseKind::decode(old_key, &mut bytes, version)
            .map_err(|error| error.to_string())?;
    }
    if bytes.has_remaining() {
        return Err(format!("{} bytes left over", bytes.remaining()));
    }
    Ok(())
}
