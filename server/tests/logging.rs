//! The broker's log as an operator reads it: one line per topic created
//! and deleted, `--log-format json` writing one JSON object per line, and
//! `--log-level` winning over RUST_LOG.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::*;

#[test]
fn topic_creation_and_deletion_are_logged_once_each() {
    let mut broker = Broker::start_logged(2, &[]);
    create_topic(&broker, "logged", 3);
    let mut raw = Raw::connect(&broker);
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("logged"))))])
        .with_timeout_ms(5000);
    let response: DeleteTopicsResponse = raw.call(ApiKey::DeleteTopics, 6, &request);
    assert_eq!(response.responses[0].error_code, 0);
    broker.stop();
    let log = broker.log_text();
    let created: Vec<_> = log
        .lines()
        .filter(|l| l.contains("topic created"))
        .collect();
    assert_eq!(created.len(), 1, "{log}");
    assert!(created[0].contains("topic=logged") && created[0].contains("partitions=3"));
    let deleted: Vec<_> = log
        .lines()
        .filter(|l| l.contains("topic deleted"))
        .collect();
    assert_eq!(deleted.len(), 1, "{log}");
    assert!(deleted[0].contains("topic=logged"));
}

/// Runs `serve` with `flags` until it logs that it serves, stops it with
/// SIGTERM and returns its standard error.
fn serve_and_stop(flags: &[&str], rust_log: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .arg("serve")
        .args([
            "--override",
            &format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
        ])
        .args([
            "--override",
            &format!("log.dirs={}", dir.path().join("data").display()),
        ])
        .args(["--override", "num.shards=1"])
        .args(flags)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the broker never listened");
        assert!(child.try_wait().unwrap().is_none(), "the broker exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn json_format_writes_one_object_per_line() {
    let text = serve_and_stop(&["--log-format", "json"], "info");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    fn message(line: &serde_json::Value) -> &str {
        line["fields"]["message"].as_str().unwrap_or("")
    }
    let serving = lines
        .iter()
        .find(|line| message(line).contains("serving"))
        .unwrap_or_else(|| panic!("a serving line in {text}"));
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["fields"]["shards"], 1);
    assert!(serving["timestamp"]
        .as_str()
        .is_some_and(|t| t.starts_with("20")));
    assert!(serving["target"].as_str().unwrap().starts_with("ringlog"));
    assert!(lines.iter().any(|line| message(line) == "stopped cleanly"));
}

#[test]
fn log_level_wins_over_rust_log() {
    let quiet = serve_and_stop(&["--log-level", "warn"], "info");
    assert!(!quiet.contains("INFO"), "no info line at warn:\n{quiet}");
    let chatty = serve_and_stop(&["--log-level", "debug"], "warn");
    assert!(chatty.contains("DEBUG"), "debug lines at debug:\n{chatty}");
}

#[test]
fn a_bad_log_level_is_refused_before_anything_starts() {
    let output = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(["serve", "--log-level", "info,=x=y"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--log-level"));
}
