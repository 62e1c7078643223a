//! The `ringlog` command line: one binary, Kafka's tools as subcommands.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::broker;
use crate::config::BrokerConfig;
use crate::doctor;
use crate::logging::{self, LogFormat};
#[cfg(feature = "tools")]
use crate::tools;

#[derive(Parser)]
#[command(
    name = "ringlog",
    version,
    about = "A Kafka-wire-compatible broker, and Kafka's shell tools as subcommands",
    after_help = "A Kafka tool's command works with its script name swapped: \
                  kafka-topics.sh --bootstrap-server 127.0.0.1:9092 --list \
                  is ringlog topics --bootstrap-server 127.0.0.1:9092 --list"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker (like kafka-server-start.sh).
    Serve {
        /// A server.properties file with Kafka's keys.
        #[arg(long)]
        config: Option<PathBuf>,
        /// key=value, applied after the file; may repeat.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Print the configuration in force and exit.
        #[arg(long)]
        print_config: bool,
        /// Log filter: a level (error, warn, info, debug, trace) or
        /// tracing directives (info,ringlog::group=debug); overrides RUST_LOG.
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<String>,
        /// How log lines are written to standard error.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Check that this machine gives the broker what it needs (io_uring,
    /// locked memory, O_DIRECT, filesystem, free space, open files, clock,
    /// cores); exit code 0 only when nothing failed.
    Doctor {
        /// The server.properties file `serve` will use.
        #[arg(long)]
        config: Option<PathBuf>,
        /// key=value, applied after the file; may repeat.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Kafka's shell tools (docs/tools.md).
    #[cfg(feature = "tools")]
    #[command(flatten)]
    Tool(tools::Tool),
}

/// The subcommand a command line names, if any (its first argument).
#[cfg(feature = "tools")]
fn subcommand_name(args: &[String]) -> Option<&str> {
    args.get(1).map(String::as_str)
}

/// The `ringlog` command line: parses the arguments and runs the subcommand.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    #[cfg(feature = "tools")]
    if subcommand_name(&args) != Some("serve") {
        if let Some(code) = tools::refuse_zookeeper(&args) {
            return code;
        }
    }
    let cli = Cli::parse_from(&args);
    // The broker logs at info; a tool only says what goes wrong (librdkafka's
    // warnings and errors, such as a broker it cannot reach).
    let (log_level, log_format, default_level) = match &cli.command {
        Command::Serve {
            log_level,
            log_format,
            ..
        } => (log_level.as_deref(), *log_format, "info"),
        Command::Doctor { .. } => (None, LogFormat::Text, "info"),
        #[cfg(feature = "tools")]
        Command::Tool(_) => (None, LogFormat::Text, "warn"),
    };
    match logging::filter(log_level, default_level) {
        Ok(filter) => logging::init(filter, log_format),
        Err(error) => {
            eprintln!("ringlog: {error}");
            return ExitCode::from(2);
        }
    }
    match cli.command {
        Command::Doctor { config, overrides } => match load_config(config, &overrides) {
            Ok(config) => doctor::run(&config),
            Err(message) => {
                eprintln!("ringlog: {message}");
                ExitCode::from(2)
            }
        },
        Command::Serve {
            config,
            overrides,
            print_config,
            ..
        } => match load_config(config, &overrides) {
            Ok(config) if print_config => {
                for line in config.describe() {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Ok(config) => serve(config),
            Err(message) => {
                eprintln!("ringlog: {message}");
                ExitCode::from(2)
            }
        },
        #[cfg(feature = "tools")]
        Command::Tool(tool) => tools::run(tool),
    }
}

/// Tells glibc's allocator to keep freed memory for reuse instead of giving
/// it back to the kernel. By default a 1 MiB buffer (a request frame, a
/// log tail chunk, a write's copy) is mmap'ed, or its heap pages trimmed,
/// when freed: the next one costs 256 page faults, the kernel zeroing each
/// page, and an munmap with a TLB shootdown. Under a 1 KiB produce load
/// that was 1.4 GB of fresh pages per 2 GB produced and the largest CPU
/// cost after the socket read. The price: memory freed after a peak stays
/// with the process (RSS shows the peak), as a JVM heap does.
fn keep_freed_memory() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes allocator tunables; called once,
        // before any shard thread allocates.
        unsafe {
            nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
            nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
        }
    }
}

/// Allocations from this size up get pages of their own (mmap), freed at once.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD_BYTES: i32 = 32 * 1024 * 1024;

/// Free memory at the top of a heap kept before trimming.
#[cfg(target_env = "gnu")]
const TRIM_THRESHOLD_BYTES: i32 = 1024 * 1024 * 1024;

fn load_config(path: Option<PathBuf>, overrides: &[String]) -> Result<BrokerConfig, String> {
    let mut config = BrokerConfig::embedded_default();
    if let Some(path) = path {
        config
            .load_properties(&path)
            .map_err(|error| error.to_string())?;
    }
    for item in overrides {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--override {item:?}: expected key=value"))?;
        config
            .set(key.trim(), value)
            .map_err(|error| error.to_string())?;
    }
    config.validate().map_err(|error| error.to_string())?;
    engine::LogConfig::validate(&config.log_config()).map_err(|error| error.to_string())?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// Runs the broker until SIGINT/SIGTERM.
fn serve(config: BrokerConfig) -> ExitCode {
    keep_freed_memory();
    match broker::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ringlog: {message}");
            ExitCode::from(1)
        }
    }
}
