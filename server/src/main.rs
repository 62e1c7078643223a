//! `ringlog`: one binary, Kafka's tools as subcommands (see `cli`).

fn main() -> std::process::ExitCode {
    ringlog::cli::main()
}
