//! `ringlog configs`: kafka-configs.sh for topics and brokers. `--describe`
//! prints Kafka's layout:
//!
//! ```text
//! Dynamic configs for topic T are:
//!   retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000}
//! ```
//!
//! (`--all`: every config, `All configs for topic T are:`). librdkafka's
//! DescribeConfigs result carries each entry's own source but not its
//! synonyms, so `synonyms={}` lists that one source only.
//!
//! `--alter --add-config k=v,k2=[a,b] --delete-config k3` changes a topic's
//! overrides. Kafka's tool sends IncrementalAlterConfigs; librdkafka's
//! binding has only AlterConfigs, which replaces a resource's overrides as
//! a whole, so the tool reads the current overrides, applies the change,
//! and sends the full set: the same result, as Kafka's own tool did before
//! KIP-339. Deleting an override that is not set is Kafka's error,
//! `Invalid config(s): k3`.

use std::collections::BTreeMap;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigEntry, ConfigSource, ResourceSpecifier,
};
use rdkafka::client::DefaultClientContext;

use super::common::{block_on, ClientProperties, Role, ToolError, REQUEST_TIMEOUT};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: String,
    /// A properties file of admin client settings.
    #[arg(long, value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
    /// topics or brokers.
    #[arg(long, value_name = "TYPE")]
    entity_type: Option<String>,
    /// The topic name or broker id.
    #[arg(long, value_name = "NAME")]
    entity_name: Option<String>,
    /// Shorthand for --entity-type topics --entity-name TOPIC.
    #[arg(long)]
    topic: Option<String>,
    /// Shorthand for --entity-type brokers --entity-name ID.
    #[arg(long, value_name = "ID")]
    broker: Option<String>,
    /// List the configs.
    #[arg(long)]
    describe: bool,
    /// With --describe: every config, not only the dynamic ones.
    #[arg(long)]
    all: bool,
    /// Change configs (--add-config, --delete-config).
    #[arg(long)]
    alter: bool,
    /// k=v,k2=[a,b]: configs to set.
    #[arg(long, value_name = "K=V,...")]
    add_config: Option<String>,
    /// k,k2: configs to remove.
    #[arg(long, value_name = "K,...")]
    delete_config: Option<String>,
}

type Admin = AdminClient<DefaultClientContext>;

#[derive(Debug, Clone, PartialEq)]
enum Entity {
    Topic(String),
    Broker(Option<i32>),
}

pub fn run(args: Args) -> Result<(), ToolError> {
    let entity = entity(&args)?;
    if args.describe == args.alter {
        return Err(ToolError::Usage(
            "Command must include exactly one action: --describe, --alter".into(),
        ));
    }
    let mut properties = ClientProperties::new();
    properties.add_file("--command-config", args.command_config.as_deref())?;
    properties.set(
        "--bootstrap-server",
        "bootstrap.servers",
        &args.bootstrap_server,
    );
    let admin: Admin = properties.client_config(Role::Admin)?.create()?;
    let result = if args.describe {
        describe(&admin, &entity, args.all)
    } else {
        alter(&admin, &entity, &args)
    };
    result.map_err(|error| match error {
        ToolError::Failed(message) => {
            eprintln!(
                "Error while executing config command with args '{}'",
                command_line()
            );
            eprintln!("{message}");
            ToolError::Reported
        }
        other => other,
    })
}

fn command_line() -> String {
    std::env::args().skip(2).collect::<Vec<_>>().join(" ")
}

fn entity(args: &Args) -> Result<Entity, ToolError> {
    let (kind, name) = match (&args.topic, &args.broker, &args.entity_type) {
        (Some(topic), None, None) => ("topics", Some(topic.clone())),
        (None, Some(broker), None) => ("brokers", Some(broker.clone())),
        (None, None, Some(kind)) => (kind.as_str(), args.entity_name.clone()),
        (None, None, None) => {
            return Err(ToolError::Usage(
                "--entity-type must be specified (topics or brokers), or --topic / --broker".into(),
            ))
        }
        _ => {
            return Err(ToolError::Usage(
                "give one of --entity-type, --topic, --broker".into(),
            ))
        }
    };
    match kind {
        "topics" => match name {
            Some(name) => Ok(Entity::Topic(name)),
            None => Err(ToolError::Usage(
                "--entity-name: a topic name is required with --entity-type topics".into(),
            )),
        },
        "brokers" => match name {
            None => Ok(Entity::Broker(None)),
            Some(name) => name.parse().map(|id| Entity::Broker(Some(id))).map_err(|_| {
                ToolError::Usage(format!(
                    "--entity-name {name}: The entity name for brokers must be a valid integer broker id, found: {name}"
                ))
            }),
        },
        other => Err(ToolError::Usage(format!(
            "--entity-type {other}: Invalid entity type {other}, the entity type must be one of topics, brokers"
        ))),
    }
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT))
}

fn describe_entries(
    admin: &Admin,
    specifier: ResourceSpecifier<'_>,
) -> Result<Vec<ConfigEntry>, ToolError> {
    let results = block_on(admin.describe_configs(&[specifier], &options()))?;
    match results.into_iter().next() {
        Some(Ok(resource)) => Ok(resource.entries),
        Some(Err(code)) => Err(ToolError::Failed(code.to_string())),
        None => Ok(Vec::new()),
    }
}

/// Kafka's ConfigSource names.
fn source_name(source: &ConfigSource) -> &'static str {
    match source {
        ConfigSource::Unknown => "UNKNOWN",
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
    }
}

fn print_entry(entry: &ConfigEntry) {
    let value = entry.value.as_deref().unwrap_or("null");
    println!(
        "  {}={} sensitive={} synonyms={{{}:{}={}}}",
        entry.name,
        value,
        entry.is_sensitive,
        source_name(&entry.source),
        entry.name,
        value
    );
}

fn describe(admin: &Admin, entity: &Entity, all: bool) -> Result<(), ToolError> {
    let heading = if all { "All" } else { "Dynamic" };
    match entity {
        Entity::Topic(topic) => {
            let entries = describe_entries(admin, ResourceSpecifier::Topic(topic))?;
            println!("{heading} configs for topic {topic} are:");
            for entry in entries
                .iter()
                .filter(|e| all || e.source == ConfigSource::DynamicTopic)
            {
                print_entry(entry);
            }
        }
        Entity::Broker(id) => {
            let ids = match id {
                Some(id) => vec![*id],
                None => admin
                    .inner()
                    .fetch_metadata(None, REQUEST_TIMEOUT)?
                    .brokers()
                    .iter()
                    .map(|broker| broker.id())
                    .collect(),
            };
            for id in ids {
                let entries = describe_entries(admin, ResourceSpecifier::Broker(id))?;
                println!("{heading} configs for broker {id} are:");
                for entry in entries.iter().filter(|e| {
                    all || matches!(
                        e.source,
                        ConfigSource::DynamicBroker | ConfigSource::DynamicDefaultBroker
                    )
                }) {
                    print_entry(entry);
                }
            }
            if id.is_none() {
                println!("Default configs for brokers in the cluster are:");
            }
        }
    }
    Ok(())
}

/// Kafka's `--add-config` syntax: comma-separated `k=v`, a value in square
/// brackets may hold commas (`k=[a,b]`).
fn parse_add_config(text: &str) -> Result<Vec<(String, String)>, ToolError> {
    let mut pairs = Vec::new();
    let mut depth = 0usize;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    for item in items.into_iter().filter(|item| !item.trim().is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(ToolError::Usage(format!(
                "--add-config {text}: requirement failed: Invalid entity config: all configs to be added must be in the format \"key=val\"."
            )));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(value);
        pairs.push((key.trim().to_string(), value.to_string()));
    }
    Ok(pairs)
}

fn alter(admin: &Admin, entity: &Entity, args: &Args) -> Result<(), ToolError> {
    let adds = args
        .add_config
        .as_deref()
        .map(parse_add_config)
        .transpose()?
        .unwrap_or_default();
    let deletes: Vec<String> = args
        .delete_config
        .as_deref()
        .map(|text| {
            text.split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if adds.is_empty() && deletes.is_empty() {
        return Err(ToolError::Usage(
            "--alter needs --add-config and/or --delete-config".into(),
        ));
    }
    let topic = match entity {
        Entity::Topic(topic) => topic,
        Entity::Broker(id) => return alter_broker(admin, *id, &adds, &deletes),
    };
    let current = describe_entries(admin, ResourceSpecifier::Topic(topic))?;
    let mut overrides: BTreeMap<String, String> = current
        .iter()
        .filter(|entry| entry.source == ConfigSource::DynamicTopic)
        .map(|entry| (entry.name.clone(), entry.value.clone().unwrap_or_default()))
        .collect();
    let invalid: Vec<&str> = deletes
        .iter()
        .filter(|key| !overrides.contains_key(key.as_str()))
        .map(String::as_str)
        .collect();
    if !invalid.is_empty() {
        return Err(ToolError::Failed(format!(
            "Invalid config(s): {}",
            invalid.join(",")
        )));
    }
    for key in &deletes {
        overrides.remove(key);
    }
    for (key, value) in adds {
        overrides.insert(key, value);
    }
    let mut request = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (key, value) in &overrides {
        request = request.set(key, value);
    }
    send_alter(admin, &request)?;
    let now = describe_entries(admin, ResourceSpecifier::Topic(topic))?;
    let applied: BTreeMap<String, String> = now
        .iter()
        .filter(|entry| entry.source == ConfigSource::DynamicTopic)
        .map(|entry| (entry.name.clone(), entry.value.clone().unwrap_or_default()))
        .collect();
    if applied != overrides {
        return Err(not_applied(&overrides, &applied));
    }
    println!("Completed updating config for topic {topic}.");
    Ok(())
}

/// The rdkafka crate reports every AlterConfigs resource as a success
/// (it does not read the per-resource error), so the tool reads the
/// configs back and says what the broker did not take.
fn not_applied(wanted: &BTreeMap<String, String>, found: &BTreeMap<String, String>) -> ToolError {
    let mut differences: Vec<String> = wanted
        .iter()
        .filter(|(key, value)| found.get(*key) != Some(value))
        .map(|(key, value)| match found.get(key) {
            Some(now) => format!("{key}={value} (it has {key}={now})"),
            None => format!("{key}={value}"),
        })
        .collect();
    differences.extend(
        found
            .keys()
            .filter(|key| !wanted.contains_key(*key))
            .map(|key| format!("deleting {key}")),
    );
    ToolError::Failed(format!(
        "The broker refused the change: it did not apply {}",
        differences.join(", ")
    ))
}

fn alter_broker(
    admin: &Admin,
    id: Option<i32>,
    adds: &[(String, String)],
    deletes: &[String],
) -> Result<(), ToolError> {
    let Some(id) = id else {
        return Err(ToolError::Usage(
            "--entity-name: a broker id is required to alter broker configs".into(),
        ));
    };
    if !deletes.is_empty() {
        return Err(ToolError::Failed(
            "--delete-config for brokers needs IncrementalAlterConfigs, which librdkafka's binding lacks".into(),
        ));
    }
    let mut request = AlterConfig::new(ResourceSpecifier::Broker(id));
    for (key, value) in adds {
        request = request.set(key, value);
    }
    send_alter(admin, &request)?;
    let now = describe_entries(admin, ResourceSpecifier::Broker(id))?;
    let wanted: BTreeMap<String, String> = adds.iter().cloned().collect();
    let found: BTreeMap<String, String> = now
        .iter()
        .filter(|entry| wanted.contains_key(&entry.name))
        .map(|entry| {
            (
                entry.name.clone(),
                entry.value.clone().unwrap_or_else(|| "null".into()),
            )
        })
        .collect();
    if found != wanted {
        return Err(not_applied(&wanted, &found));
    }
    println!("Completed updating config for broker {id}.");
    Ok(())
}

fn send_alter(admin: &Admin, request: &AlterConfig<'_>) -> Result<(), ToolError> {
    let results = block_on(admin.alter_configs([request], &options()))?;
    match results.into_iter().next() {
        Some(Err((_, code))) => Err(ToolError::Failed(code.to_string())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_splits_outside_brackets() {
        assert_eq!(
            parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete]").unwrap(),
            vec![
                ("retention.ms".to_string(), "1000".to_string()),
                ("cleanup.policy".to_string(), "compact,delete".to_string()),
            ]
        );
        assert!(parse_add_config("retention.ms").is_err());
    }
}
