//! The real `ringlog` binary: its config handling and signal shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ringlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringlog"))
}

#[test]
fn bad_config_value_is_an_error_naming_the_key() {
    let output = ringlog()
        .args(["serve", "--override", "num.partitions=0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("num.partitions"), "{stderr}");
}

#[test]
fn print_config_shows_the_embedded_default() {
    let output = ringlog()
        .args(["serve", "--print-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("listeners = PLAINTEXT://127.0.0.1:9092"),
        "{stdout}"
    );
    assert!(stdout.contains("log.dirs = ./ringlog-data"), "{stdout}");
}

#[test]
fn serve_creates_its_data_dir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = ringlog()
        .args([
            "serve",
            "--override",
            &format!("log.dirs={}", data.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !data.exists() {
        assert!(Instant::now() < deadline, "data dir not created");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
