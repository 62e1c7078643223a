//! Starting the real `ringlog` binary for a test, and raw protocol frames.
#![allow(dead_code)]

pub mod kafka;
pub mod loop_disk;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    /// A second free port, for tests that configure two listeners: an
    /// override's `{second_port}` is replaced by it (and `{port}` by `port`).
    pub second_port: u16,
    pub data: PathBuf,
    shards: usize,
    overrides: Vec<String>,
    /// Where the broker's log goes (appended across restarts), if captured.
    pub log: Option<PathBuf>,
    /// RLIMIT_NOFILE (soft and hard) the broker runs under, if set.
    open_files_limit: Option<u64>,
    /// RLIMIT_MEMLOCK (soft and hard) the broker runs under, if set.
    locked_memory: Option<LockedMemory>,
    _dir: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn other_free_port(taken: u16) -> u16 {
    loop {
        let port = free_port();
        if port != taken {
            return port;
        }
    }
}

impl Broker {
    pub fn start(shards: usize) -> Broker {
        Broker::start_with(shards, &[])
    }

    pub fn start_with(shards: usize, overrides: &[&str]) -> Broker {
        Broker::launch(shards, overrides, None, false, None)
    }

    /// Starts a broker whose log (at info level) is kept in a file.
    pub fn start_logged(shards: usize, overrides: &[&str]) -> Broker {
        Broker::launch(shards, overrides, None, true, None)
    }

    /// Starts a logged broker whose `log.dirs` is `data` (a directory the
    /// test owns, such as a small loop-mounted filesystem).
    pub fn start_logged_in(data: PathBuf, shards: usize, overrides: &[&str]) -> Broker {
        Broker::launch(shards, overrides, Some(data), true, None)
    }

    /// Starts a logged broker that may open at most `limit` files (soft and
    /// hard RLIMIT_NOFILE: it cannot raise them).
    pub fn start_with_open_files_limit(shards: usize, overrides: &[&str], limit: u64) -> Broker {
        Broker::launch(shards, overrides, None, true, Some(limit))
    }

    /// Starts a logged broker under a locked-memory limit, with or without
    /// CAP_IPC_LOCK (which frees io_uring's registered buffers from it).
    pub fn start_with_locked_memory(shards: usize, limit: LockedMemory) -> Broker {
        let mut broker = Broker::launch_unstarted(shards, &[], None, true, None);
        broker.locked_memory = Some(limit);
        broker.spawn();
        broker
    }

    /// Starts a broker: its data in `data`, or in a directory of its own;
    /// its log in a file when `logged`.
    fn launch(
        shards: usize,
        overrides: &[&str],
        data: Option<PathBuf>,
        logged: bool,
        open_files_limit: Option<u64>,
    ) -> Broker {
        let mut broker =
            Broker::launch_unstarted(shards, overrides, data, logged, open_files_limit);
        broker.spawn();
        broker
    }

    fn launch_unstarted(
        shards: usize,
        overrides: &[&str],
        data: Option<PathBuf>,
        logged: bool,
        open_files_limit: Option<u64>,
    ) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let mut broker = Broker {
            child: None,
            port: free_port(),
            second_port: 0,
            data: data.unwrap_or_else(|| dir.path().join("data")),
            shards,
            overrides: overrides.iter().map(|item| item.to_string()).collect(),
            log: logged.then(|| dir.path().join("broker.log")),
            open_files_limit,
            locked_memory: None,
            _dir: Some(dir),
        };
        broker.second_port = other_free_port(broker.port);
        broker
    }

    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .map(|path| std::fs::read_to_string(path).unwrap_or_default())
            .unwrap_or_default()
    }

    fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
        command
            .arg("serve")
            .args([
                "--override",
                &format!("listeners=PLAINTEXT://127.0.0.1:{}", self.port),
            ])
            .args(["--override", &format!("log.dirs={}", self.data.display())])
            .args(["--override", &format!("num.shards={}", self.shards)]);
        for item in &self.overrides {
            let item = item
                .replace("{port}", &self.port.to_string())
                .replace("{second_port}", &self.second_port.to_string());
            command.args(["--override", &item]);
        }
        let (level, stderr) = match &self.log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                ("info".to_string(), Stdio::from(file))
            }
            None => (
                std::env::var("RINGLOG_TEST_LOG").unwrap_or_else(|_| "warn".into()),
                Stdio::inherit(),
            ),
        };
        if let Some(limit) = self.open_files_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; the closure touches
            // nothing else between fork and exec.
            unsafe {
                command.pre_exec(move || set_limit(nix::libc::RLIMIT_NOFILE, limit));
            }
        }
        if let Some(limit) = self.locked_memory {
            limit.apply(&mut command);
        }
        let child = command
            .env("RUST_LOG", level)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Ready means answering: three ApiVersions round trips in a row.
        // Right after a kill -9 the old process's listener can linger for a
        // few ms (io_uring holds it until the ring is torn down) and reset
        // connections the kernel hashed to it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut answered = 0;
        while answered < 3 {
            assert!(Instant::now() < deadline, "broker did not start answering");
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("broker exited early: {status}");
            }
            if self.answers_api_versions() {
                answered += 1;
            } else {
                answered = 0;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn answers_api_versions(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        // ApiVersions v0, correlation id 1, null client id.
        let request = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
        let mut size = [0u8; 4];
        stream.write_all(&request).is_ok() && stream.read_exact(&mut size).is_ok()
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "broker stopped with {status}");
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn restart_after_kill9(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A line of the broker's /proc status in KiB: "VmRSS" (resident now)
    /// or "VmHWM" (the most it was ever resident).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{field}:")))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A raw protocol connection.
pub struct Raw {
    pub stream: TcpStream,
    correlation_id: i32,
}

impl Raw {
    pub fn connect(broker: &Broker) -> Raw {
        Raw::from_stream(TcpStream::connect(("127.0.0.1", broker.port)).unwrap())
    }

    /// A raw connection over a stream already connected to a broker.
    pub fn from_stream(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends ApiVersions: false if it was answered, true if the broker
    /// closed the connection instead (a timeout fails the test).
    pub fn is_closed_or_answers(&mut self) -> bool {
        self.correlation_id += 1;
        // ApiVersions v0 with a null client id.
        let mut request = vec![0, 18, 0, 0];
        request.extend_from_slice(&self.correlation_id.to_be_bytes());
        request.extend_from_slice(&[0xff, 0xff]);
        let mut frame = (request.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&request);
        if self.stream.write_all(&frame).is_err() {
            return true;
        }
        self.receive_frame().is_none()
    }

    pub fn send<T: Encodable>(&mut self, key: ApiKey, version: i16, body: &T) -> i32 {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")));
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, key.request_header_version(version))
            .unwrap();
        body.encode(&mut frame, version).unwrap();
        self.send_bytes(&frame);
        self.correlation_id
    }

    pub fn send_bytes(&mut self, frame: &[u8]) {
        let mut out = Vec::with_capacity(frame.len() + 4);
        out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        out.extend_from_slice(frame);
        self.stream.write_all(&out).unwrap();
    }

    /// Reads one response frame; `None` if the broker closed the
    /// connection (end of stream or reset). A read that times out is a hung
    /// broker, not a closed connection: it fails the test.
    pub fn receive_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        if !self.read_or_closed(&mut size) {
            return None;
        }
        let size = i32::from_be_bytes(size);
        assert!(size >= 4, "response size {size}");
        let mut frame = vec![0u8; size as usize];
        if !self.read_or_closed(&mut frame) {
            return None;
        }
        Some(Bytes::from(frame))
    }

    /// Fills `buffer`; false if the connection was closed first. Panics if
    /// the read timed out.
    fn read_or_closed(&mut self, buffer: &mut [u8]) -> bool {
        match self.stream.read_exact(buffer) {
            Ok(()) => true,
            Err(error) => match end_of(&error) {
                Some(Ending::Closed) => false,
                Some(Ending::TimedOut) | None => {
                    panic!("no answer and no close: {error} ({:?})", error.kind())
                }
            },
        }
    }

    pub fn receive<T: Decodable>(&mut self, key: ApiKey, version: i16) -> Option<(i32, T)> {
        let mut frame = self.receive_frame()?;
        let header =
            ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
        let body = T::decode(&mut frame, version).unwrap();
        assert!(!frame.has_remaining(), "response fully consumed");
        Some((header.correlation_id, body))
    }

    /// Sends `request` and returns its answer, which must come.
    pub fn call<Q: Encodable, A: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Q,
    ) -> A {
        self.send(key, version, request);
        self.receive::<A>(key, version)
            .unwrap_or_else(|| panic!("{key:?} v{version} was not answered"))
            .1
    }

    /// Produces `records` to one partition with acks=1 and returns its answer.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let request = produce_request(topic, partition, records, 1);
        let mut response: ProduceResponse = self.call(ApiKey::Produce, 8, &request);
        response.responses.remove(0).partition_responses.remove(0)
    }

    /// Fetches one partition from `offset` (Fetch v12, no wait) and returns
    /// its record bytes.
    pub fn fetch(&mut self, topic: &str, partition: i32, offset: i64, max_bytes: i32) -> Bytes {
        let request = fetch_request(topic, partition, offset, max_bytes);
        let mut response: FetchResponse = self.call(ApiKey::Fetch, 12, &request);
        assert_eq!(response.error_code, 0);
        let answer = response.responses.remove(0).partitions.remove(0);
        assert_eq!(answer.error_code, 0, "fetch {topic}-{partition}");
        answer.records.unwrap_or_default()
    }

    /// Answers an ApiVersions v3 request on this connection.
    pub fn api_versions(&mut self) -> ApiVersionsResponse {
        self.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
    }

    /// True if the broker closed the connection: the read sees the end of
    /// the stream or a reset. False if bytes arrive instead. A read that
    /// times out (the broker neither answers nor closes) fails the test:
    /// a hung broker must not pass for one that closed.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => match end_of(&error) {
                Some(Ending::Closed) => true,
                Some(Ending::TimedOut) | None => panic!(
                    "the connection was neither answered nor closed: {error} ({:?})",
                    error.kind()
                ),
            },
        }
    }
}

/// Sets a resource limit (soft and hard) in a child before exec.
fn set_limit(resource: nix::libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = nix::libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit is async-signal-safe and reads only `limit`.
    match unsafe { nix::libc::setrlimit(resource, &limit) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The RLIMIT_MEMLOCK a child runs under, and whether it keeps
/// CAP_IPC_LOCK: a root child takes its capabilities from the bounding set
/// at exec, so dropping it there is what `setpriv --bounding-set=-ipc_lock`
/// does.
#[derive(Clone, Copy, Debug)]
pub struct LockedMemory {
    pub bytes: u64,
    pub ipc_lock: bool,
}

impl LockedMemory {
    pub fn apply(self, command: &mut Command) {
        use std::os::unix::process::CommandExt;
        const CAP_IPC_LOCK: nix::libc::c_ulong = 14;
        // SAFETY: setrlimit and prctl are async-signal-safe; the closure
        // touches nothing else between fork and exec.
        unsafe {
            command.pre_exec(move || {
                set_limit(nix::libc::RLIMIT_MEMLOCK, self.bytes)?;
                if !self.ipc_lock
                    && nix::libc::prctl(nix::libc::PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// How a read that failed ended.
enum Ending {
    /// The peer closed or reset the connection.
    Closed,
    /// Nothing came within the read timeout.
    TimedOut,
}

fn end_of(error: &std::io::Error) -> Option<Ending> {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => Some(Ending::Closed),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Some(Ending::TimedOut),
        _ => None,
    }
}

/// A produce request for one partition.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

/// A Fetch v12 request for one partition, answered at once (no wait).
pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])])
}

/// Creates a topic over raw frames; it must succeed.
pub fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let mut raw = Raw::connect(broker);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    let response: CreateTopicsResponse = raw.call(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(5000),
    );
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
}

pub fn put_frame_size(out: &mut BytesMut, size: i32) {
    out.put_i32(size);
}

/// A child process (a client, or a broker started by hand) killed and reaped
/// when dropped, so a failing test leaves nothing running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A batch of one record whose value is `value` (fixed timestamp).
pub fn one_record_batch(value: &str) -> Bytes {
    use engine::record_batch::{BatchBuilder, Record};
    let record = Record::value(
        value.as_bytes().to_vec(),
        engine::TimestampMs(1_700_000_000_000),
    );
    Bytes::from(BatchBuilder::new().record(record).build())
}

/// The record values (UTF-8) of the whole, uncompressed batches in `bytes`,
/// in order; a batch cut short at the end is left out.
pub fn record_values(mut bytes: &[u8]) -> Vec<String> {
    use engine::record_batch::{RecordBatch, Validation};
    let mut out = Vec::new();
    while let Ok(batch) = RecordBatch::parse(bytes, Validation::Stored) {
        for record in batch.records().expect("uncompressed") {
            let value = record.expect("record").value.expect("value").to_vec();
            out.push(String::from_utf8(value).expect("utf-8"));
        }
        bytes = &bytes[batch.size()..];
    }
    out
}

/// The sum of a counter in the broker's "fetch record bytes" log lines
/// (written when it stops), e.g. `sendfile_bytes`, `memory_record_bytes`.
pub fn fetch_counter(log: &str, name: &str) -> u64 {
    log.lines()
        .filter(|line| line.contains("fetch record bytes"))
        .filter_map(|line| {
            let start = line.find(&format!("{name}="))? + name.len() + 1;
            line[start..].split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}
