//! `ringlog consumer-groups`: kafka-consumer-groups.sh. Lists groups,
//! describes them (committed offsets and lag, `--members [--verbose]`,
//! `--state`), resets their offsets and deletes them, with the columns of
//! Kafka's ConsumerGroupCommand:
//!
//! ```text
//!
//! GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID
//! g_01   t      0          5               7               2    rdkafka-…    /…    rdkafka
//! ```
//!
//! (each block starts with an empty line and columns are padded as Kafka
//! pads them). The group's state, members and assignments come from
//! DescribeGroups (`group_list`), committed offsets from OffsetFetch, log
//! end offsets from ListOffsets. Offsets are reset as Kafka resets them: by
//! committing new ones for a group that has no active member (Empty, or not
//! there yet), printing the plan, and only with `--execute`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::common::{block_on, parse_datetime, ClientProperties, Role, ToolError};
use super::group_list::{list_groups, GroupDescription};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: String,
    /// A properties file of client settings.
    #[arg(long, value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
    /// List the groups.
    #[arg(long)]
    list: bool,
    /// Describe groups: offsets and lag, or --members, or --state.
    #[arg(long)]
    describe: bool,
    /// Delete groups (they must have no active member).
    #[arg(long)]
    delete: bool,
    /// Reset a group's committed offsets (see the --to-* flags).
    #[arg(long)]
    reset_offsets: bool,
    /// The group; may repeat.
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// Every group.
    #[arg(long)]
    all_groups: bool,
    /// With --describe: the members and how many partitions each has.
    #[arg(long)]
    members: bool,
    /// With --describe --members: each member's partitions.
    #[arg(long)]
    verbose: bool,
    /// With --describe: the committed offsets (the default).
    #[arg(long)]
    offsets: bool,
    /// With --describe: coordinator, assignor, state and member count;
    /// with --list: the state of each group.
    #[arg(long)]
    state: bool,
    /// With --reset-offsets: a topic, or topic:0,1 for some partitions; may repeat.
    #[arg(long = "topic", value_name = "TOPIC[:P,P]")]
    topics: Vec<String>,
    /// With --reset-offsets: every topic the group has offsets for.
    #[arg(long)]
    all_topics: bool,
    /// Reset to the log start.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to the log end.
    #[arg(long)]
    to_latest: bool,
    /// Reset to this offset (kept within the log).
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// Move each committed offset by N (negative goes back).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// Reset to the first record at or after YYYY-MM-DDTHH:mm:SS.sss[zone].
    #[arg(long, value_name = "DATETIME")]
    to_datetime: Option<String>,
    /// Reset to the committed offset (the log end where there is none).
    #[arg(long)]
    to_current: bool,
    /// Print the plan only (the default).
    #[arg(long)]
    dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    execute: bool,
    /// Print the plan as CSV: topic,partition,offset.
    #[arg(long)]
    export: bool,
    /// How long to wait for the cluster's answers.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout: u64,
}

pub fn run(args: Args) -> Result<(), ToolError> {
    check_args(&args)?;
    let tool = Tool::connect(&args)?;
    if args.list {
        tool.list(args.state)
    } else if args.describe {
        tool.describe(&args)
    } else if args.delete {
        tool.delete(&args)
    } else {
        tool.reset(&args)
    }
}

fn check_args(args: &Args) -> Result<(), ToolError> {
    let actions = [args.list, args.describe, args.delete, args.reset_offsets];
    if actions.iter().filter(|&&on| on).count() != 1 {
        return Err(ToolError::Usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets"
                .into(),
        ));
    }
    if (args.describe || args.delete || args.reset_offsets)
        && args.groups.is_empty()
        && !args.all_groups
    {
        return Err(ToolError::Usage(
            "Option [describe|delete|reset-offsets] takes one of these options: [all-groups], [group]"
                .into(),
        ));
    }
    if args.describe
        && [args.members, args.offsets, args.state]
            .iter()
            .filter(|&&on| on)
            .count()
            > 1
    {
        return Err(ToolError::Usage(
            "Option [describe] takes at most one of these options: [members], [offsets], [state]"
                .into(),
        ));
    }
    if args.verbose && !(args.describe && args.members) {
        return Err(ToolError::Usage(
            "Option \"[verbose]\" can only be used with \"[describe] [members]\"".into(),
        ));
    }
    if args.reset_offsets {
        let scenarios = [
            args.to_earliest,
            args.to_latest,
            args.to_offset.is_some(),
            args.shift_by.is_some(),
            args.to_datetime.is_some(),
            args.to_current,
        ];
        if scenarios.iter().filter(|&&on| on).count() != 1 {
            return Err(ToolError::Usage(
                "Option [reset-offsets] takes exactly one of: --to-earliest, --to-latest, --to-offset, \
                 --shift-by, --to-datetime, --to-current"
                    .into(),
            ));
        }
        if args.topics.is_empty() != args.all_topics {
            return Err(ToolError::Usage(
                "One of the reset scopes should be defined: --all-topics, --topic.".into(),
            ));
        }
        if args.dry_run && args.execute {
            return Err(ToolError::Usage(
                "Option \"[dry-run]\" can't be used with option \"[execute]\"".into(),
            ));
        }
    }
    Ok(())
}

struct Tool {
    properties: ClientProperties,
    timeout: Duration,
    /// A client outside any group: metadata, groups, log offsets.
    client: BaseConsumer,
}

impl Tool {
    fn connect(args: &Args) -> Result<Tool, ToolError> {
        let mut properties = ClientProperties::new();
        properties.add_file("--command-config", args.command_config.as_deref())?;
        properties.set(
            "--bootstrap-server",
            "bootstrap.servers",
            &args.bootstrap_server,
        );
        let client = properties.client_config(Role::Consumer)?.create()?;
        Ok(Tool {
            properties,
            timeout: Duration::from_millis(args.timeout),
            client,
        })
    }

    /// A client with `group.id` set, which never joins: it reads and commits
    /// the group's offsets as an admin does.
    fn group_client(&self, group: &str) -> Result<BaseConsumer, ToolError> {
        let mut config = self.properties.client_config(Role::Consumer)?;
        config.set("group.id", group);
        config.set("enable.auto.commit", "false");
        Ok(config.create()?)
    }

    fn describe_group(&self, group: &str) -> Result<Option<GroupDescription>, ToolError> {
        Ok(
            list_groups(self.client.client(), Some(group), self.timeout)?
                .into_iter()
                .next(),
        )
    }

    fn group_ids(&self, args: &Args) -> Result<Vec<String>, ToolError> {
        let mut groups = if args.all_groups {
            list_groups(self.client.client(), None, self.timeout)?
                .into_iter()
                .map(|group| group.group)
                .collect()
        } else {
            args.groups.clone()
        };
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    fn list(&self, with_state: bool) -> Result<(), ToolError> {
        // Consumer groups only, as Kafka lists them (not Connect's, say).
        let mut groups: Vec<_> = list_groups(self.client.client(), None, self.timeout)?
            .into_iter()
            .filter(|group| matches!(group.protocol_type.as_str(), "consumer" | ""))
            .collect();
        groups.sort_by(|a, b| a.group.cmp(&b.group));
        if !with_state {
            for group in groups {
                println!("{}", group.group);
            }
            return Ok(());
        }
        let width = groups
            .iter()
            .map(|g| g.group.len().max(15))
            .max()
            .unwrap_or(15)
            + 10;
        println!("{:<width$} {:<20}", "GROUP", "STATE");
        for group in groups {
            println!("{:<width$} {:<20}", group.group, group.state);
        }
        Ok(())
    }

    /// The group's committed offsets, over every partition of every topic
    /// (OffsetFetch for the partitions the cluster has).
    fn committed(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>, ToolError> {
        let metadata = self.client.fetch_metadata(None, self.timeout)?;
        let mut all = TopicPartitionList::new();
        for topic in metadata.topics() {
            for partition in topic.partitions() {
                all.add_partition(topic.name(), partition.id());
            }
        }
        if all.count() == 0 {
            return Ok(BTreeMap::new());
        }
        let committed = self
            .group_client(group)?
            .committed_offsets(all, self.timeout)?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|element| match element.offset() {
                Offset::Offset(offset) => {
                    Some(((element.topic().to_string(), element.partition()), offset))
                }
                _ => None,
            })
            .collect())
    }

    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), ToolError> {
        Ok(self
            .client
            .fetch_watermarks(topic, partition, self.timeout)?)
    }

    fn describe(&self, args: &Args) -> Result<(), ToolError> {
        for group in self.group_ids(args)? {
            let description = self.describe_group(&group)?;
            let state = description.as_ref().map_or("Dead", |d| d.state.as_str());
            if args.members {
                let Some(description) = description
                    .as_ref()
                    .filter(|_| should_print(&group, state, 1))
                else {
                    continue;
                };
                print_members(description, args.verbose);
            } else if args.state {
                let Some(description) = description
                    .as_ref()
                    .filter(|_| should_print(&group, state, 1))
                else {
                    continue;
                };
                print_state(description);
            } else {
                let rows = self.offset_rows(&group, description.as_ref())?;
                if should_print(&group, state, rows.len()) {
                    print_offsets(&rows);
                }
            }
        }
        Ok(())
    }

    /// Kafka's rows: assigned partitions member by member (most partitions
    /// first), then committed partitions no member holds.
    fn offset_rows(
        &self,
        group: &str,
        description: Option<&GroupDescription>,
    ) -> Result<Vec<OffsetRow>, ToolError> {
        let committed = self.committed(group)?;
        let mut members: Vec<_> = description
            .map(|d| {
                d.members
                    .iter()
                    .filter(|m| !m.assignment.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        members.sort_by_key(|member| std::cmp::Reverse(member.assignment.len()));
        let mut rows = Vec::new();
        let mut assigned = std::collections::BTreeSet::new();
        for member in members {
            for (topic, partition) in &member.assignment {
                assigned.insert((topic.clone(), *partition));
                rows.push(self.offset_row(
                    group,
                    topic,
                    *partition,
                    committed.get(&(topic.clone(), *partition)).copied(),
                    Some((&member.member_id, &member.client_host, &member.client_id)),
                )?);
            }
        }
        for ((topic, partition), offset) in &committed {
            if !assigned.contains(&(topic.clone(), *partition)) {
                rows.push(self.offset_row(group, topic, *partition, Some(*offset), None)?);
            }
        }
        Ok(rows)
    }

    fn offset_row(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: Option<i64>,
        member: Option<(&String, &String, &String)>,
    ) -> Result<OffsetRow, ToolError> {
        let end = self.watermarks(topic, partition).ok().map(|(_, high)| high);
        let missing = || "-".to_string();
        Ok(OffsetRow {
            group: group.to_string(),
            topic: topic.to_string(),
            partition: partition.to_string(),
            offset: offset.map_or_else(missing, |o| o.to_string()),
            end: end.map_or_else(missing, |e| e.to_string()),
            lag: match (offset, end) {
                (Some(offset), Some(end)) if offset >= 0 => (end - offset).to_string(),
                _ => missing(),
            },
            consumer_id: member.map_or_else(missing, |m| m.0.clone()),
            host: member.map_or_else(missing, |m| m.1.clone()),
            client_id: member.map_or_else(missing, |m| m.2.clone()),
        })
    }

    fn delete(&self, args: &Args) -> Result<(), ToolError> {
        let groups = self.group_ids(args)?;
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
            self.properties.client_config(Role::Admin)?.create()?;
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let options = rdkafka::admin::AdminOptions::new().request_timeout(Some(self.timeout));
        let results = block_on(admin.delete_groups(&names, &options))?;
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for result in results {
            match result {
                Ok(group) => deleted.push(group),
                Err((group, code)) => failed.push((group, code)),
            }
        }
        if failed.is_empty() {
            let list = deleted.join("', '");
            println!("Deletion of requested consumer groups ('{list}') was successful.");
            return Ok(());
        }
        println!("\nError: Deletion of some consumer groups failed:");
        for (group, code) in &failed {
            println!(
                "* Group '{group}' could not be deleted due to: {}",
                group_error(*code)
            );
        }
        if !deleted.is_empty() {
            println!(
                "\nThese consumer groups were deleted successfully: '{}'",
                deleted.join("', '")
            );
        }
        Err(ToolError::Reported)
    }

    fn reset(&self, args: &Args) -> Result<(), ToolError> {
        if !args.dry_run && !args.execute {
            eprintln!(
                "WARN: No action will be performed as the --execute option is missing. \
                 Add --dry-run to say so, or --execute to reset the offsets."
            );
        }
        let mut plans = BTreeMap::new();
        let mut refused = false;
        for group in self.group_ids(args)? {
            let state = self
                .describe_group(&group)?
                .map_or_else(|| "Dead".to_string(), |d| d.state);
            if state != "Empty" && state != "Dead" {
                println!(
                    "\nError: Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
                );
                refused = true;
                continue;
            }
            let committed = self.committed(&group)?;
            let partitions = self.partitions_to_reset(args, &committed)?;
            let plan = self.plan(args, &partitions, &committed)?;
            if args.execute {
                let mut offsets = TopicPartitionList::new();
                for ((topic, partition), offset) in &plan {
                    offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
                }
                self.group_client(&group)?
                    .commit(&offsets, CommitMode::Sync)
                    .map_err(|error| {
                        ToolError::Failed(format!("committing offsets of group {group}: {error}"))
                    })?;
            }
            plans.insert(group, plan);
        }
        print_plans(&plans, args.export);
        if refused {
            Err(ToolError::Reported)
        } else {
            Ok(())
        }
    }

    fn partitions_to_reset(
        &self,
        args: &Args,
        committed: &BTreeMap<(String, i32), i64>,
    ) -> Result<Vec<(String, i32)>, ToolError> {
        if args.all_topics {
            return Ok(committed.keys().cloned().collect());
        }
        let mut partitions = Vec::new();
        for item in &args.topics {
            match item.split_once(':') {
                Some((topic, list)) => {
                    for number in list.split(',') {
                        let partition = number.trim().parse::<i32>().map_err(|_| {
                            ToolError::Usage(format!(
                                "--topic {item}: Invalid partition '{number}' specified in topic arg '{item}'"
                            ))
                        })?;
                        partitions.push((topic.to_string(), partition));
                    }
                }
                None => {
                    let metadata = self.client.fetch_metadata(Some(item), self.timeout)?;
                    let topic = metadata.topics().first();
                    match topic.filter(|topic| topic.error().is_none()) {
                        Some(topic) => partitions
                            .extend(topic.partitions().iter().map(|p| (item.clone(), p.id()))),
                        None => {
                            return Err(ToolError::Failed(format!(
                                "--topic {item}: This server does not host this topic-partition."
                            )))
                        }
                    }
                }
            }
        }
        partitions.sort();
        partitions.dedup();
        Ok(partitions)
    }

    /// The new offset of each partition, per the scenario, kept between the
    /// log start and end where Kafka keeps it.
    fn plan(
        &self,
        args: &Args,
        partitions: &[(String, i32)],
        committed: &BTreeMap<(String, i32), i64>,
    ) -> Result<BTreeMap<(String, i32), i64>, ToolError> {
        let by_time = match &args.to_datetime {
            Some(text) => {
                Some(self.offsets_for_time(parse_datetime("--to-datetime", text)?, partitions)?)
            }
            None => None,
        };
        let mut plan = BTreeMap::new();
        for (topic, partition) in partitions {
            let key = (topic.clone(), *partition);
            let (low, high) = self.watermarks(topic, *partition)?;
            let current = committed.get(&key).copied();
            let offset = if args.to_earliest {
                low
            } else if args.to_latest {
                high
            } else if let Some(offset) = args.to_offset {
                offset.clamp(low, high)
            } else if let Some(shift) = args.shift_by {
                let current = current.ok_or_else(|| {
                    ToolError::Failed(format!(
                        "Cannot shift offset for partition {topic}-{partition} since there is no current committed offset"
                    ))
                })?;
                current.saturating_add(shift).clamp(low, high)
            } else if let Some(by_time) = &by_time {
                match by_time.get(&key).copied().flatten() {
                    Some(offset) => offset,
                    None => {
                        println!(
                            "\nWarn: Partition {partition} from topic {topic} is empty. Falling back to latest known offset."
                        );
                        high
                    }
                }
            } else {
                current.unwrap_or(high)
            };
            plan.insert(key, offset);
        }
        Ok(plan)
    }

    /// ListOffsets by timestamp: the first offset at or after `time_ms`,
    /// None where no record is that recent.
    fn offsets_for_time(
        &self,
        time_ms: i64,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), Option<i64>>, ToolError> {
        let mut query = TopicPartitionList::new();
        for (topic, partition) in partitions {
            query.add_partition_offset(topic, *partition, Offset::Offset(time_ms))?;
        }
        let found = self.client.offsets_for_times(query, self.timeout)?;
        Ok(found
            .elements()
            .iter()
            .map(|element| {
                let offset = match element.offset() {
                    Offset::Offset(offset) if offset >= 0 => Some(offset),
                    _ => None,
                };
                ((element.topic().to_string(), element.partition()), offset)
            })
            .collect())
    }
}

/// Kafka's shouldPrintMemberState: notes on stderr for an empty or
/// rebalancing group, an error for one that does not exist.
fn should_print(group: &str, state: &str, rows: usize) -> bool {
    match state {
        "Dead" => {
            println!("\nError: Consumer group '{group}' does not exist.");
            return false;
        }
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    rows > 0
}

struct OffsetRow {
    group: String,
    topic: String,
    partition: String,
    offset: String,
    end: String,
    lag: String,
    consumer_id: String,
    host: String,
    client_id: String,
}

fn print_offsets(rows: &[OffsetRow]) {
    let width = |field: fn(&OffsetRow) -> &str| {
        rows.iter()
            .map(|r| field(r).len())
            .max()
            .unwrap_or(0)
            .max(15)
    };
    let (g, t, c, h) = (
        width(|r| &r.group),
        width(|r| &r.topic),
        width(|r| &r.consumer_id),
        width(|r| &r.host),
    );
    let line = |cells: [&str; 9]| {
        format!(
            "{:<g$} {:<t$} {:<10} {:<15} {:<15} {:<15} {:<c$} {:<h$} {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            cells[7],
            cells[8]
        )
    };
    print!(
        "\n{}",
        line([
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ])
    );
    for row in rows {
        print!(
            "\n{}",
            line([
                &row.group,
                &row.topic,
                &row.partition,
                &row.offset,
                &row.end,
                &row.lag,
                &row.consumer_id,
                &row.host,
                &row.client_id
            ])
        );
    }
    println!();
}

fn print_members(description: &GroupDescription, verbose: bool) {
    let members = &description.members;
    let width = |field: fn(&super::group_list::MemberDescription) -> usize| {
        members.iter().map(field).max().unwrap_or(0).max(15)
    };
    let g = description.group.len().max(15);
    let c = width(|m| m.member_id.len());
    let h = width(|m| m.client_host.len());
    let l = width(|m| m.client_id.len());
    print!(
        "\n{:<g$} {:<c$} {:<h$} {:<l$} {:<15} ",
        "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
    );
    if verbose {
        print!("ASSIGNMENT");
    }
    println!();
    for member in members {
        print!(
            "{:<g$} {:<c$} {:<h$} {:<l$} {:<15} ",
            description.group,
            member.member_id,
            member.client_host,
            member.client_id,
            member.assignment.len()
        );
        if verbose {
            print!("{}", assignment_text(&member.assignment));
        }
        println!();
    }
}

/// `topic(0,1,2), other(0)`; `-` for none.
fn assignment_text(assignment: &[(String, i32)]) -> String {
    if assignment.is_empty() {
        return "-".into();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in assignment {
        by_topic.entry(topic).or_default().push(*partition);
    }
    by_topic
        .iter_mut()
        .map(|(topic, partitions)| {
            partitions.sort_unstable();
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}({})", list.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_state(description: &GroupDescription) {
    let coordinator = format!(
        "{}:{}  ({})",
        description.coordinator.host, description.coordinator.port, description.coordinator.id
    );
    let width = coordinator.len().max(25);
    print!(
        "\n{:<width$} {:<25} {:<20} {:<15} #MEMBERS",
        "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE"
    );
    print!(
        "\n{:<width$} {:<25} {:<20} {:<15} {}",
        description.group,
        coordinator,
        description.protocol,
        description.state,
        description.members.len()
    );
    println!();
}

fn print_plans(plans: &BTreeMap<String, BTreeMap<(String, i32), i64>>, export: bool) {
    if export {
        let single = plans.len() == 1;
        for (group, plan) in plans {
            for ((topic, partition), offset) in plan {
                if single {
                    println!("{topic},{partition},{offset}");
                } else {
                    println!("{group},{topic},{partition},{offset}");
                }
            }
        }
        return;
    }
    if plans.is_empty() {
        return;
    }
    print!(
        "\n{:<30} {:<30} {:<10} {:<15}",
        "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
    );
    for (group, plan) in plans {
        for ((topic, partition), offset) in plan {
            print!("\n{group:<30} {topic:<30} {partition:<10} {offset:<15}");
        }
    }
    println!();
}

/// Kafka's exception text for the group errors DeleteGroups answers.
fn group_error(code: rdkafka::types::RDKafkaErrorCode) -> String {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match code {
        Code::GroupIdNotFound => {
            "org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist."
                .into()
        }
        Code::NonEmptyGroup => {
            "org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_print_per_topic_in_partition_order() {
        let assignment = vec![
            ("b".to_string(), 10),
            ("a".to_string(), 1),
            ("b".to_string(), 2),
        ];
        assert_eq!(assignment_text(&assignment), "a(1), b(2,10)");
        assert_eq!(assignment_text(&[]), "-");
    }
}
