//! `ringlog doctor`: checks that this machine and configuration give the
//! broker what it needs, and says what to fix for each check that fails.
//! It reads the same `--config` / `--override` as `serve` and looks at the
//! same things `serve` will use: the kernel's io_uring, the locked-memory
//! limit for the configured shards, O_DIRECT, filesystem, journal, free
//! space and the device's readahead of every log dir, the open-file limit,
//! the clock, and the cores the shards are pinned to.
//!
//! Each check ends `ok`, `warn` (the broker runs, but not as well or as
//! safely as it could) or `FAIL` (the broker will not start, or will lose
//! data). The exit code is 0 only when no check failed, so a deployment
//! script or a systemd `ExecStartPre=` can gate on it.

mod filesystem;
mod system;

use std::process::ExitCode;

use crate::config::BrokerConfig;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ ok ]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
        }
    }
}

/// What one check found, and for a warning or failure what to do.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub found: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: impl Into<String>, found: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Ok,
            found: found.into(),
            fix: None,
        }
    }

    fn warn(check: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Warn,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(check: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Fail,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check against `config`, in the order `serve` meets them.
pub fn checks(config: &BrokerConfig) -> Vec<Finding> {
    let mut findings = vec![
        system::io_uring(),
        system::memlock(config.num_shards()),
        system::cores(config.num_shards()),
    ];
    let dirs = config.log_dirs();
    let mut segments = 0;
    for dir in &dirs {
        findings.extend(filesystem::check_log_dir(dir, config.segment_bytes()));
        let (_, segments_in_dir) = filesystem::partitions_and_segments(dir);
        segments += segments_in_dir;
    }
    findings.push(system::open_files(config.num_shards(), segments));
    findings.push(system::clock());
    findings
}

/// Prints the findings; the exit code says whether any failed.
pub fn run(config: &BrokerConfig) -> ExitCode {
    let findings = checks(config);
    for finding in &findings {
        println!(
            "{} {}: {}",
            finding.status.tag(),
            finding.check,
            finding.found
        );
        if let Some(fix) = &finding.fix {
            println!("       fix: {fix}");
        }
    }
    let failed = findings
        .iter()
        .filter(|finding| finding.status == Status::Fail)
        .count();
    let warned = findings
        .iter()
        .filter(|finding| finding.status == Status::Warn)
        .count();
    println!(
        "{} checks: {} ok, {warned} warnings, {failed} failed",
        findings.len(),
        findings.len() - failed - warned
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Bytes in a short human form (KiB, MiB, GiB).
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8.0 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }
}
