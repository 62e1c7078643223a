//! The broker's log: one line per event on standard error, as text for a
//! terminal or as JSON objects for a log shipper (`--log-format json`).
//!
//! The level is a tracing-subscriber filter: `--log-level` if given (a level
//! such as `debug`, or directives such as `info,ringlog::group=debug`), else
//! `RUST_LOG`, else the command's default. Under systemd, journald stamps
//! each line; the JSON lines carry their own timestamp, level, target and
//! fields, so `jq` or a shipper needs no parsing rules.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored on a terminal).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[error("--log-level {level:?}: {reason}")]
pub struct LogLevelError {
    level: String,
    reason: String,
}

/// The filter in force: the flag, else RUST_LOG, else `default_level`.
pub fn filter(level: Option<&str>, default_level: &str) -> Result<EnvFilter, LogLevelError> {
    match level {
        Some(level) => EnvFilter::try_new(level).map_err(|error| LogLevelError {
            level: level.to_string(),
            reason: error.to_string(),
        }),
        None => {
            Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)))
        }
    }
}

/// Installs the process's log subscriber (once, before anything logs).
pub fn init(filter: EnvFilter, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_wins_and_a_bad_one_names_itself() {
        assert_eq!(filter(Some("debug"), "info").unwrap().to_string(), "debug");
        let error = filter(Some("info,=nonsense=1"), "info").unwrap_err();
        assert!(error.to_string().contains("--log-level"), "{error}");
    }
}
