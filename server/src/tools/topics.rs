//! `ringlog topics`: kafka-topics.sh. Create, list, describe, alter (grow
//! the partition count) and delete topics, printing what Kafka's
//! TopicCommand prints: `Created topic T.`, one name per line for
//! `--list`, and for `--describe` a topic line then a line per partition:
//!
//! ```text
//! Topic: T<TAB>PartitionCount: 4<TAB>ReplicationFactor: 1<TAB>Configs: k=v,...
//! <TAB>Topic: T<TAB>Partition: 0<TAB>Leader: 1<TAB>Replicas: 1<TAB>Isr: 1
//! ```
//!
//! Partitions and leaders come from Metadata, `Configs:` from DescribeConfigs
//! (every entry whose source is not the hard-coded default, as Kafka's tool
//! prints). librdkafka does not hand back a topic's id, so the `TopicId:`
//! field Kafka prints when it knows one is left out, as Kafka does for a
//! topic without one. Errors are printed as Kafka prints them, on stdout:
//! `Error while executing topic command : <message>`.

use clap::ArgGroup;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::metadata::{Metadata, MetadataTopic};
use rdkafka::types::RDKafkaErrorCode;

use super::common::{
    block_on, is_internal_topic, key_value, ClientProperties, Role, ToolError, TopicPattern,
    REQUEST_TIMEOUT,
};

#[derive(clap::Args, Debug)]
#[command(group(ArgGroup::new("action").required(true).args(["create", "list", "describe", "alter", "delete"])))]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: Option<String>,
    /// A properties file of admin client settings.
    #[arg(long, value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
    /// Create a topic (--topic, --partitions, --replication-factor, --config).
    #[arg(long)]
    create: bool,
    /// List the topics.
    #[arg(long)]
    list: bool,
    /// Describe topics: partitions, leaders, replicas and configs.
    #[arg(long)]
    describe: bool,
    /// Grow a topic's partition count (--partitions).
    #[arg(long)]
    alter: bool,
    /// Delete a topic.
    #[arg(long)]
    delete: bool,
    /// The topic; a regular expression for list, describe, alter and delete.
    #[arg(long)]
    topic: Option<String>,
    /// The number of partitions (create, alter).
    #[arg(long, value_name = "N")]
    partitions: Option<i32>,
    /// The replication factor (create only).
    #[arg(long, value_name = "N")]
    replication_factor: Option<i32>,
    /// A topic config override for --create; may repeat.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    configs: Vec<String>,
    /// With --create: succeed quietly if the topic exists.
    #[arg(long)]
    if_not_exists: bool,
    /// With --alter, --describe or --delete: do nothing if no topic matches.
    #[arg(long)]
    if_exists: bool,
    /// Leave internal topics out of --list and --describe.
    #[arg(long)]
    exclude_internal: bool,
    /// With --describe: only partitions whose ISR is smaller than their replicas.
    #[arg(long)]
    under_replicated_partitions: bool,
    /// With --describe: only partitions without a leader.
    #[arg(long)]
    unavailable_partitions: bool,
}

type Admin = AdminClient<DefaultClientContext>;

pub fn run(args: Args) -> Result<(), ToolError> {
    check_args(&args)?;
    let admin = connect(&args)?;
    let result = if args.create {
        create(&admin, &args)
    } else if args.list {
        list(&admin, &args)
    } else if args.describe {
        describe(&admin, &args)
    } else if args.alter {
        alter(&admin, &args)
    } else {
        delete(&admin, &args)
    };
    result.map_err(|error| match error {
        ToolError::Failed(message) => {
            println!("Error while executing topic command : {message}");
            ToolError::Reported
        }
        other => other,
    })
}

/// Kafka's TopicCommandOptions checks, with its messages.
fn check_args(args: &Args) -> Result<(), ToolError> {
    if args.bootstrap_server.is_none() {
        return Err(ToolError::Usage(
            "--bootstrap-server must be specified".into(),
        ));
    }
    if (args.create || args.alter || args.delete) && args.topic.is_none() {
        return Err(ToolError::Usage(
            "Missing required argument \"[topic]\"".into(),
        ));
    }
    let action = action_name(args);
    if args.replication_factor.is_some() && !args.create {
        return Err(cannot_combine("replication-factor", action));
    }
    if args.partitions.is_some() && !(args.create || args.alter) {
        return Err(cannot_combine("partitions", action));
    }
    if !args.configs.is_empty() && !args.create {
        let hint = if args.alter {
            " (To alter topic configurations, use ringlog configs.)"
        } else {
            ""
        };
        return Err(ToolError::Usage(format!(
            "Option \"[config]\" can't be used with option \"[{action}]\"{hint}"
        )));
    }
    if args.alter && args.partitions.is_none() {
        return Err(ToolError::Usage(
            "Missing required argument \"[partitions]\"".into(),
        ));
    }
    if args.if_not_exists && !args.create {
        return Err(cannot_combine("if-not-exists", action));
    }
    if args.if_exists && !(args.alter || args.delete || args.describe) {
        return Err(cannot_combine("if-exists", action));
    }
    if let Some(count) = args.partitions.filter(|count| *count < 1) {
        return Err(ToolError::Usage(format!(
            "--partitions {count}: The partitions must be greater than 0"
        )));
    }
    if let Some(factor) = args.replication_factor {
        if !(1..=i32::from(i16::MAX)).contains(&factor) {
            return Err(ToolError::Usage(format!(
                "--replication-factor {factor}: The replication factor must be between 1 and {} inclusive",
                i16::MAX
            )));
        }
    }
    Ok(())
}

fn action_name(args: &Args) -> &'static str {
    match (args.create, args.list, args.describe, args.alter) {
        (true, ..) => "create",
        (_, true, ..) => "list",
        (_, _, true, _) => "describe",
        (_, _, _, true) => "alter",
        _ => "delete",
    }
}

fn cannot_combine(option: &str, action: &str) -> ToolError {
    ToolError::Usage(format!(
        "Option \"[{option}]\" can't be used with option \"[{action}]\""
    ))
}

fn connect(args: &Args) -> Result<Admin, ToolError> {
    let mut properties = ClientProperties::new();
    properties.add_file("--command-config", args.command_config.as_deref())?;
    properties.set(
        "--bootstrap-server",
        "bootstrap.servers",
        args.bootstrap_server.as_deref().unwrap_or_default(),
    );
    Ok(properties.client_config(Role::Admin)?.create()?)
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT))
}

fn metadata(admin: &Admin) -> Result<Metadata, ToolError> {
    Ok(admin.inner().fetch_metadata(None, REQUEST_TIMEOUT)?)
}

/// The topics `--topic` selects (all when absent), sorted by name.
fn selected<'a>(metadata: &'a Metadata, args: &Args) -> Result<Vec<&'a MetadataTopic>, ToolError> {
    let pattern = args
        .topic
        .as_deref()
        .map(|topic| TopicPattern::new("--topic", topic))
        .transpose()?;
    let mut topics: Vec<&MetadataTopic> = metadata
        .topics()
        .iter()
        .filter(|topic| topic.error().is_none())
        .filter(|topic| !(args.exclude_internal && is_internal_topic(topic.name())))
        .filter(|topic| pattern.as_ref().is_none_or(|p| p.matches(topic.name())))
        .collect();
    topics.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(topics)
}

/// Kafka's `ensureTopicExists`: a named topic that matched nothing is an
/// error unless `--if-exists`.
fn ensure_exists(topics: &[&MetadataTopic], args: &Args) -> Result<(), ToolError> {
    match &args.topic {
        Some(topic) if topics.is_empty() && !args.if_exists => Err(ToolError::Failed(format!(
            "Topic '{topic}' does not exist as expected"
        ))),
        _ => Ok(()),
    }
}

fn create(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let name = args.topic.as_deref().unwrap_or_default();
    if name.contains('.') || name.contains('_') {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        );
    }
    let configs = args
        .configs
        .iter()
        .map(|item| key_value("--config", item))
        .collect::<Result<Vec<_>, _>>()?;
    // -1: the broker's default (num.partitions, default.replication.factor).
    let partitions = args.partitions.unwrap_or(-1);
    let factor = args.replication_factor.unwrap_or(-1);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(factor));
    for (key, value) in &configs {
        topic = topic.set(key, value);
    }
    let results = block_on(admin.create_topics([&topic], &options()))?;
    match results.into_iter().next() {
        Some(Ok(_)) => {
            println!("Created topic {name}.");
            Ok(())
        }
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if args.if_not_exists => Ok(()),
        Some(Err((_, code))) => Err(ToolError::Failed(create_error(admin, name, factor, code))),
        None => Err(ToolError::Failed(format!("no answer for topic {name}"))),
    }
}

/// The message Kafka's exception carries for a failed CreateTopics
/// (librdkafka passes on only the error code).
fn create_error(admin: &Admin, name: &str, factor: i32, code: RDKafkaErrorCode) -> String {
    match code {
        RDKafkaErrorCode::TopicAlreadyExists => format!("Topic '{name}' already exists."),
        RDKafkaErrorCode::InvalidReplicationFactor => match metadata(admin) {
            Ok(metadata) => format!(
                "Replication factor: {factor} larger than available brokers: {}.",
                metadata.brokers().len()
            ),
            Err(_) => code.to_string(),
        },
        other => other.to_string(),
    }
}

fn list(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let metadata = metadata(admin)?;
    for topic in selected(&metadata, args)? {
        println!("{}", topic.name());
    }
    Ok(())
}

fn describe(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let metadata = metadata(admin)?;
    let topics = selected(&metadata, args)?;
    ensure_exists(&topics, args)?;
    let filtering = args.under_replicated_partitions || args.unavailable_partitions;
    for topic in topics {
        let mut partitions: Vec<_> = topic.partitions().iter().collect();
        partitions.sort_by_key(|partition| partition.id());
        if !filtering {
            let factor = partitions.first().map_or(0, |p| p.replicas().len());
            println!(
                "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                topic.name(),
                partitions.len(),
                factor,
                overridden_configs(admin, topic.name())?
            );
        }
        for partition in partitions {
            let under_replicated = partition.isr().len() < partition.replicas().len();
            let unavailable = partition.leader() < 0;
            if (args.under_replicated_partitions && !under_replicated)
                || (args.unavailable_partitions && !unavailable)
            {
                continue;
            }
            let leader = if unavailable {
                "none".to_string()
            } else {
                partition.leader().to_string()
            };
            println!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                topic.name(),
                partition.id(),
                leader,
                join_ids(partition.replicas()),
                join_ids(partition.isr()),
            );
        }
    }
    Ok(())
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// `k=v,...` for every config of the topic not at its hard-coded default.
fn overridden_configs(admin: &Admin, topic: &str) -> Result<String, ToolError> {
    let results = block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &options()))?;
    let resource = match results.into_iter().next() {
        Some(Ok(resource)) => resource,
        Some(Err(code)) => return Err(ToolError::Failed(code.to_string())),
        None => return Ok(String::new()),
    };
    Ok(resource
        .entries
        .iter()
        .filter(|entry| entry.source != rdkafka::admin::ConfigSource::Default)
        .map(|entry| {
            format!(
                "{}={}",
                entry.name,
                entry.value.as_deref().unwrap_or("null")
            )
        })
        .collect::<Vec<_>>()
        .join(","))
}

fn alter(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let metadata = metadata(admin)?;
    let topics = selected(&metadata, args)?;
    ensure_exists(&topics, args)?;
    let wanted = args.partitions.unwrap_or_default();
    for topic in topics {
        let current = topic.partitions().len();
        let request = NewPartitions::new(topic.name(), wanted as usize);
        let results = block_on(admin.create_partitions([&request], &options()))?;
        if let Some(Err((_, code))) = results.into_iter().next() {
            return Err(ToolError::Failed(match code {
                RDKafkaErrorCode::InvalidPartitions if current == wanted as usize => {
                    format!("Topic already has {current} partitions.")
                }
                RDKafkaErrorCode::InvalidPartitions if current > wanted as usize => format!(
                    "Topic currently has {current} partitions, which is higher than the requested {wanted}."
                ),
                other => other.to_string(),
            }));
        }
    }
    Ok(())
}

fn delete(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let metadata = metadata(admin)?;
    let topics = selected(&metadata, args)?;
    ensure_exists(&topics, args)?;
    let names: Vec<&str> = topics.iter().map(|topic| topic.name()).collect();
    if names.is_empty() {
        return Ok(());
    }
    for result in block_on(admin.delete_topics(&names, &options()))? {
        if let Err((topic, code)) = result {
            return Err(ToolError::Failed(format!("{topic}: {code}")));
        }
    }
    Ok(())
}
