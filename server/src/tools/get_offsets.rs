//! `ringlog get-offsets`: kafka-get-offsets.sh (GetOffsetShell). Prints
//! `topic:partition:offset` for every partition the filters select, sorted
//! by `topic-partition` as Kafka sorts them (as text). `--time` is
//! `latest`/`-1` (the log end, the default), `earliest`/`-2` (the log
//! start), `max-timestamp`/`-3` (the record with the largest timestamp) or
//! a timestamp in ms (the first record at or after it; partitions without
//! one are left out, as Kafka leaves them out).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::common::{
    is_internal_topic, ClientProperties, Role, ToolError, TopicPattern, REQUEST_TIMEOUT,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: Option<String>,
    /// The old name of --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    broker_list: Option<String>,
    /// The topic, a regular expression (default: every topic).
    #[arg(long)]
    topic: Option<String>,
    /// Comma-separated partition ids (default: all).
    #[arg(long, value_name = "P,P")]
    partitions: Option<String>,
    /// latest or -1, earliest or -2, max-timestamp or -3, or a timestamp in ms.
    #[arg(
        long,
        value_name = "TIME",
        default_value = "latest",
        allow_negative_numbers = true
    )]
    time: String,
    /// Leave internal topics out.
    #[arg(long)]
    exclude_internal_topics: bool,
    /// A properties file of client settings.
    #[arg(long, value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
}

#[derive(Debug, PartialEq)]
enum Time {
    Latest,
    Earliest,
    MaxTimestamp,
    At(i64),
}

fn parse_time(text: &str) -> Result<Time, ToolError> {
    match text {
        "latest" | "-1" => Ok(Time::Latest),
        "earliest" | "-2" => Ok(Time::Earliest),
        "max-timestamp" | "-3" => Ok(Time::MaxTimestamp),
        other => match other.parse::<i64>() {
            Ok(ms) if ms >= 0 => Ok(Time::At(ms)),
            _ => Err(ToolError::Usage(format!(
                "--time {other}: Malformed time argument {other}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp"
            ))),
        },
    }
}

fn parse_partitions(text: &str) -> Result<Vec<i32>, ToolError> {
    text.split(',')
        .map(|id| {
            id.trim().parse::<i32>().map_err(|_| {
                ToolError::Usage(format!(
                    "--partitions {text}: --partitions expects a comma separated list of numeric partition ids, but received: {text}"
                ))
            })
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), ToolError> {
    let time = parse_time(&args.time)?;
    let wanted = args
        .partitions
        .as_deref()
        .map(parse_partitions)
        .transpose()?;
    let pattern = args
        .topic
        .as_deref()
        .map(|t| TopicPattern::new("--topic", t))
        .transpose()?;
    let bootstrap = match (&args.bootstrap_server, &args.broker_list) {
        (Some(servers), _) | (None, Some(servers)) => servers.clone(),
        (None, None) => {
            return Err(ToolError::Usage(
                "--bootstrap-server must be specified".into(),
            ))
        }
    };
    let mut properties = ClientProperties::new();
    properties.add_file("--command-config", args.command_config.as_deref())?;
    properties.set("--bootstrap-server", "bootstrap.servers", &bootstrap);
    properties.set("(default)", "client.id", "GetOffsetShell");
    let client: BaseConsumer = properties.client_config(Role::Consumer)?.create()?;
    let metadata = client.fetch_metadata(None, REQUEST_TIMEOUT)?;
    let mut selected = Vec::new();
    for topic in metadata.topics().iter().filter(|t| t.error().is_none()) {
        if args.exclude_internal_topics && is_internal_topic(topic.name()) {
            continue;
        }
        if pattern.as_ref().is_some_and(|p| !p.matches(topic.name())) {
            continue;
        }
        for partition in topic.partitions() {
            if wanted
                .as_ref()
                .is_none_or(|ids| ids.contains(&partition.id()))
            {
                selected.push((topic.name().to_string(), partition.id()));
            }
        }
    }
    if selected.is_empty() {
        return Err(ToolError::Failed(
            "Could not match any topic-partitions with the specified filters".into(),
        ));
    }
    let mut lines: Vec<(String, String)> = Vec::new();
    for (topic, partition, offset) in offsets(&client, &selected, &time)? {
        lines.push((
            format!("{topic}-{partition}"),
            format!("{topic}:{partition}:{offset}"),
        ));
    }
    lines.sort();
    for (_, line) in lines {
        println!("{line}");
    }
    Ok(())
}

/// (topic, partition, offset) for each partition that has one at `time`.
fn offsets(
    client: &BaseConsumer,
    partitions: &[(String, i32)],
    time: &Time,
) -> Result<Vec<(String, i32, i64)>, ToolError> {
    let mut found = Vec::new();
    match time {
        Time::Latest | Time::Earliest => {
            for (topic, partition) in partitions {
                match client.fetch_watermarks(topic, *partition, REQUEST_TIMEOUT) {
                    Ok((low, high)) => {
                        let offset = if *time == Time::Latest { high } else { low };
                        found.push((topic.clone(), *partition, offset));
                    }
                    Err(error) => eprintln!(
                        "Skip getting offsets for topic-partition {topic}-{partition} due to error: {error}"
                    ),
                }
            }
        }
        Time::MaxTimestamp | Time::At(_) => {
            // ListOffsets by timestamp; -3 asks for the max-timestamp record.
            let query = match time {
                Time::At(ms) => *ms,
                _ => -3,
            };
            let mut list = TopicPartitionList::new();
            for (topic, partition) in partitions {
                list.add_partition_offset(topic, *partition, Offset::Offset(query))?;
            }
            let answered = client.offsets_for_times(list, REQUEST_TIMEOUT)?;
            for element in answered.elements() {
                if let Offset::Offset(offset) = element.offset() {
                    if offset >= 0 {
                        found.push((element.topic().to_string(), element.partition(), offset));
                    }
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_kafkas_names_and_numbers() {
        assert_eq!(parse_time("-1").unwrap(), Time::Latest);
        assert_eq!(parse_time("earliest").unwrap(), Time::Earliest);
        assert_eq!(parse_time("-3").unwrap(), Time::MaxTimestamp);
        assert_eq!(
            parse_time("1700000000000").unwrap(),
            Time::At(1_700_000_000_000)
        );
        assert!(parse_time("-7").is_err());
        assert!(parse_time("soon").is_err());
    }
}
