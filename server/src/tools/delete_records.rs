//! `ringlog delete-records`: kafka-delete-records.sh. Reads Kafka's offset
//! JSON file,
//!
//! ```text
//! {"partitions": [{"topic": "foo", "partition": 1, "offset": 1}], "version": 1}
//! ```
//!
//! (offset -1: up to the high watermark), sends DeleteRecords and prints
//! each partition's new low watermark or its error as Kafka does.

use std::collections::BTreeSet;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{Offset, TopicPartitionList};

use super::common::{block_on, ClientProperties, Role, ToolError, REQUEST_TIMEOUT};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: String,
    /// The JSON file of partitions and the offsets to delete up to.
    #[arg(long, value_name = "FILE")]
    offset_json_file: std::path::PathBuf,
    /// A properties file of admin client settings.
    #[arg(long, value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
}

/// (topic, partition, offset) from Kafka's JSON, in file order.
fn parse_offsets(text: &str) -> Result<Vec<(String, i32, i64)>, String> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| "The input string is not a valid JSON".to_string())?;
    let version = json
        .get("version")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(1);
    if version != 1 {
        return Err(format!("Not supported version field value {version}"));
    }
    let partitions = json
        .get("partitions")
        .and_then(serde_json::Value::as_array)
        .ok_or("Missing partitions field")?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut duplicates = Vec::new();
    for entry in partitions {
        let topic = entry.get("topic").and_then(serde_json::Value::as_str);
        let partition = entry.get("partition").and_then(serde_json::Value::as_i64);
        let offset = entry.get("offset").and_then(serde_json::Value::as_i64);
        let (Some(topic), Some(partition), Some(offset)) = (topic, partition, offset) else {
            return Err(format!(
                "each partition needs topic, partition and offset: {entry}"
            ));
        };
        let partition = i32::try_from(partition)
            .map_err(|_| format!("partition {partition} is out of range"))?;
        if !seen.insert((topic.to_string(), partition)) {
            duplicates.push(format!("{topic}-{partition}"));
        }
        out.push((topic.to_string(), partition, offset));
    }
    if !duplicates.is_empty() {
        return Err(format!(
            "Offset json file contains duplicate topic partitions: {}",
            duplicates.join(",")
        ));
    }
    Ok(out)
}

pub fn run(args: Args) -> Result<(), ToolError> {
    let text = std::fs::read_to_string(&args.offset_json_file).map_err(|error| {
        ToolError::Usage(format!(
            "--offset-json-file {}: {error}",
            args.offset_json_file.display()
        ))
    })?;
    let offsets = parse_offsets(&text).map_err(|message| {
        ToolError::Usage(format!(
            "--offset-json-file {}: {message}",
            args.offset_json_file.display()
        ))
    })?;
    let mut properties = ClientProperties::new();
    properties.add_file("--command-config", args.command_config.as_deref())?;
    properties.set(
        "--bootstrap-server",
        "bootstrap.servers",
        &args.bootstrap_server,
    );
    let admin: AdminClient<DefaultClientContext> =
        properties.client_config(Role::Admin)?.create()?;
    // librdkafka fails the whole request for a partition it has no leader
    // for; Kafka reports such a partition on its own line, so do that.
    let metadata = admin.inner().fetch_metadata(None, REQUEST_TIMEOUT)?;
    let exists = |topic: &str, partition: i32| {
        metadata
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.partitions().iter().any(|p| p.id() == partition))
    };
    let mut lines: Vec<((String, i32), String)> = Vec::new();
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in &offsets {
        if !exists(topic, *partition) {
            lines.push((
                (topic.clone(), *partition),
                format!(
                    "partition: {topic}-{partition}\terror: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition."
                ),
            ));
            continue;
        }
        let offset = if *offset == -1 {
            Offset::End
        } else {
            Offset::Offset(*offset)
        };
        list.add_partition_offset(topic, *partition, offset)?;
    }
    println!("Executing records delete operation");
    if list.count() > 0 {
        let options = AdminOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .operation_timeout(Some(REQUEST_TIMEOUT));
        let result = block_on(admin.delete_records(&list, &options))?;
        for element in result.elements() {
            let name = format!("{}-{}", element.topic(), element.partition());
            let line = match (element.error(), element.offset()) {
                (Err(error), _) => format!("partition: {name}\terror: {error}"),
                (Ok(()), Offset::Offset(low)) => format!("partition: {name}\tlow_watermark: {low}"),
                (Ok(()), other) => format!("partition: {name}\tlow_watermark: {other:?}"),
            };
            lines.push(((element.topic().to_string(), element.partition()), line));
        }
    }
    println!("Records delete operation completed:");
    lines.sort();
    let failed = lines.iter().any(|(_, line)| line.contains("\terror: "));
    for (_, line) in lines {
        println!("{line}");
    }
    if failed {
        Err(ToolError::Reported)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_offset_json_parses() {
        let text = r#"{"partitions": [{"topic": "foo", "partition": 1, "offset": 3},
                                      {"topic": "foo", "partition": 0, "offset": -1}], "version": 1}"#;
        assert_eq!(
            parse_offsets(text).unwrap(),
            vec![("foo".to_string(), 1, 3), ("foo".to_string(), 0, -1)]
        );
        assert_eq!(
            parse_offsets("{").unwrap_err(),
            "The input string is not a valid JSON"
        );
        assert_eq!(
            parse_offsets(r#"{"version": 1}"#).unwrap_err(),
            "Missing partitions field"
        );
        let twice = r#"{"partitions": [{"topic": "t", "partition": 0, "offset": 1},
                                       {"topic": "t", "partition": 0, "offset": 2}]}"#;
        assert_eq!(
            parse_offsets(twice).unwrap_err(),
            "Offset json file contains duplicate topic partitions: t-0"
        );
    }
}
