//! `ringlog`: one binary, Kafka's tools as subcommands.

mod api;
mod broker;
mod config;
mod connection;
mod controller;
mod error_code;
mod group;
mod limits;
mod metrics;
mod shard;
mod topic_config;
mod topics;

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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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

/// Runs the broker until SIGINT/SIGTERM.
fn serve(config: BrokerConfig) -> ExitCode {
    match broker::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ringlog: {message}");
            ExitCode::from(1)
        }
    }
}
