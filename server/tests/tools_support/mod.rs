//! Running `ringlog <tool>` in the tools tests: the real binary, its exit
//! code and output, with a deadline; and a tutorial's command line made
//! runnable against the test broker (the script name becomes the
//! subcommand, the tutorial's hosts the broker's address, nothing else
//! changes).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts success and returns stdout's lines.
    pub fn ok(&self) -> Vec<&str> {
        assert!(
            self.status.success(),
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        );
        self.lines()
    }
}

/// A tool run may take this long before the test fails.
const DEADLINE: Duration = Duration::from_secs(90);

pub fn command(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command.args(args).env("RUST_LOG", "warn");
    command
}

/// Runs `ringlog ARGS` with `input` on stdin and waits (with a deadline).
pub fn run_with_input(args: &[String], input: &str) -> Ran {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    finish(child, DEADLINE)
}

pub fn run(args: &[String]) -> Ran {
    run_with_input(args, "")
}

/// `ringlog` with string-slice arguments.
pub fn ringlog(args: &[&str]) -> Ran {
    run(&strings(args))
}

/// Creates `topic` with `partitions` partitions through `ringlog topics`;
/// it must succeed.
pub fn create_topic_with_tool(bootstrap: &str, topic: &str, partitions: u32) {
    let partitions = partitions.to_string();
    ringlog(&[
        "topics",
        "--bootstrap-server",
        bootstrap,
        "--create",
        "--topic",
        topic,
        "--partitions",
        &partitions,
    ])
    .ok();
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}

/// Waits for `child` (reading its output meanwhile); kills it and fails
/// the test past `deadline`.
pub fn finish(mut child: Child, deadline: Duration) -> Ran {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "ringlog did not finish within {deadline:?}; stdout so far:\n{}",
                out.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A tutorial's command with the Kafka script swapped for its `ringlog`
/// subcommand and every host:port list (also inside `key=host:port`)
/// pointed at `bootstrap`. Everything else is kept as written.
pub fn seed(line: &str, bootstrap: &str) -> Vec<String> {
    let mut words = line.split_whitespace();
    let script = words.next().expect("a command");
    let name = script.rsplit('/').next().unwrap();
    let tool = name
        .strip_prefix("kafka-")
        .and_then(|rest| rest.strip_suffix(".sh"))
        .unwrap_or_else(|| panic!("not a Kafka script: {script}"));
    std::iter::once(tool.to_string())
        .chain(words.map(|word| point_at(word, bootstrap)))
        .collect()
}

fn point_at(word: &str, bootstrap: &str) -> String {
    let (prefix, value) = match word.split_once('=') {
        Some((key, value)) => (format!("{key}="), value),
        None => (String::new(), word),
    };
    let is_host_list = !value.is_empty()
        && value.split(',').all(|host| {
            host.rsplit_once(':')
                .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok())
        });
    if is_host_list {
        format!("{prefix}{bootstrap}")
    } else {
        word.to_string()
    }
}

/// A tool left running (a console consumer): its stdout lines arrive on a
/// channel as they are printed.
pub struct Running {
    child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

pub fn spawn(args: &[String]) -> Running {
    let mut child = command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Running {
        child,
        lines,
        stderr: Some(stderr),
    }
}

impl Running {
    /// The next stdout line, waiting at most `timeout`.
    pub fn line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Ctrl-C, then the exit status and stderr (with a deadline).
    pub fn interrupt(mut self) -> (ExitStatus, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = self.wait(Duration::from_secs(30));
        (status, self.stderr.take().unwrap().join().unwrap())
    }

    /// Waits for the tool to end on its own; the rest of its stdout lines,
    /// its status and stderr.
    pub fn finish(mut self, deadline: Duration) -> (ExitStatus, Vec<String>, String) {
        let status = self.wait(deadline);
        let stderr = self.stderr.take().unwrap().join().unwrap();
        let rest = self.lines.try_iter().collect();
        (status, rest, stderr)
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    fn wait(&mut self, deadline: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > deadline {
                self.child.kill().unwrap();
                self.child.wait().unwrap();
                panic!("ringlog did not end within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
