//! `ringlog --help` lists every tool with the Kafka script it replaces, and
//! each tool's help starts with that line and shows Kafka's flags.

mod tools_support;

use tools_support::ringlog;

const TOOLS: &[(&str, &str, &str)] = &[
    ("topics", "kafka-topics.sh", "--replication-factor"),
    (
        "console-producer",
        "kafka-console-producer.sh",
        "--broker-list",
    ),
    (
        "console-consumer",
        "kafka-console-consumer.sh",
        "--from-beginning",
    ),
    (
        "consumer-groups",
        "kafka-consumer-groups.sh",
        "--reset-offsets",
    ),
    ("configs", "kafka-configs.sh", "--add-config"),
    ("get-offsets", "kafka-get-offsets.sh", "--time"),
    (
        "delete-records",
        "kafka-delete-records.sh",
        "--offset-json-file",
    ),
    (
        "producer-perf-test",
        "kafka-producer-perf-test.sh",
        "--producer-props",
    ),
    (
        "consumer-perf-test",
        "kafka-consumer-perf-test.sh",
        "--fetch-size",
    ),
];

#[test]
fn every_tool_is_listed_and_explains_itself() {
    let top = ringlog(&["--help"]);
    let listing = top.ok().join("\n");
    for (tool, script, flag) in TOOLS {
        let line = listing
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{tool} ")))
            .unwrap_or_else(|| panic!("{tool} not in --help:\n{listing}"));
        assert!(line.ends_with(&format!("({script})")), "{line}");
        let help = ringlog(&[tool, "--help"]);
        let lines = help.ok();
        assert!(
            lines[0].ends_with(&format!("({script})")),
            "{tool}: {}",
            lines[0]
        );
        assert!(help.stdout.contains(flag), "{tool} --help lacks {flag}");
        assert!(lines.len() < 80, "{tool} --help is {} lines", lines.len());
    }
}
