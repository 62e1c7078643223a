//! `ringlog`: one binary, Kafka's tools as subcommands.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use config::BrokerConfig;

#[derive(Parser)]
#[command(name = "ringlog", version, about = "A Kafka-wire-compatible broker")]
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
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            overrides,
            print_config,
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
    }
}

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
    config.listener().map_err(|error| error.to_string())?;
    config
        .advertised_listener()
        .map_err(|error| error.to_string())?;
    engine::LogConfig::validate(&config.log_config()).map_err(|error| error.to_string())?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// The broker's entry point. The Kafka request layer is being built (see
/// the broker issue); until then `serve` prepares the data directory,
/// checks the machine and waits for SIGINT/SIGTERM.
fn serve(config: BrokerConfig) -> ExitCode {
    let log_dir = config.log_dir();
    if let Err(error) = std::fs::create_dir_all(&log_dir) {
        eprintln!(
            "ringlog: cannot create log.dirs {}: {error}",
            log_dir.display()
        );
        return ExitCode::from(1);
    }
    let memlock = engine::runtime::memlock_limit_bytes().unwrap_or(0);
    if memlock < engine::runtime::IO_MEMORY_BYTES as u64 {
        eprintln!(
            "ringlog: RLIMIT_MEMLOCK is {memlock} bytes; io_uring needs at least {} per shard. \
             Raise it (ulimit -l or LimitMEMLOCK= in the systemd unit).",
            engine::runtime::IO_MEMORY_BYTES
        );
        return ExitCode::from(1);
    }
    let (host, port) = config
        .listener()
        .unwrap_or_else(|_| ("127.0.0.1".into(), 9092));
    tracing::info!(
        node_id = config.node_id(),
        shards = config.num_shards(),
        data = %log_dir.display(),
        num_partitions = config.num_partitions(),
        default_replication_factor = config.default_replication_factor(),
        auto_create_topics = config.auto_create_topics(),
        delete_topic_enable = config.delete_topic_enable(),
        socket_request_max_bytes = config.socket_request_max_bytes(),
        "ringlog {} skeleton: storage ready; the Kafka listener on {host}:{port} arrives with the broker issue",
        env!("CARGO_PKG_VERSION")
    );
    wait_for_shutdown_signal();
    tracing::info!("shutting down");
    ExitCode::SUCCESS
}

fn wait_for_shutdown_signal() {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    if signals.thread_block().is_ok() {
        let _ = signals.wait();
    }
}
