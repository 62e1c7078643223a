//! `ringlog consumer-groups` end to end: a group's committed offsets and
//! lag as console consumers leave them, its live member (the tutorial's
//! `--group g_01 --members --describe`), its state, offset resets (dry run,
//! execute, each scenario) and deletion, in ConsumerGroupCommand's layout.

mod support;
mod tools_support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::Broker;
use tools_support::{create_topic_with_tool, ringlog, run, run_with_input, seed, spawn};

const OFFSETS_HEADER: &str = "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID";

/// An offsets row for a partition no member holds, padded as Kafka pads it.
fn unassigned_row(group: &str, topic: &str, partition: i32, current: i64, end: i64) -> String {
    format!(
        "{group:<15} {topic:<15} {partition:<10} {current:<15} {end:<15} {:<15} {:<15} {:<15} -",
        end - current,
        "-",
        "-"
    )
}

fn describe(b: &str, group: &str) -> tools_support::Ran {
    ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        b,
        "--describe",
        "--group",
        group,
    ])
}

fn reset(b: &str, group: &str, scenario: &[&str], mode: &str) -> Vec<String> {
    let mut args = vec![
        "consumer-groups",
        "--bootstrap-server",
        b,
        "--group",
        group,
        "--reset-offsets",
        "--topic",
        "orders",
    ];
    args.extend_from_slice(scenario);
    args.push(mode);
    ringlog(&args)
        .ok()
        .iter()
        .map(|line| line.to_string())
        .collect()
}

fn plan(group: &str, offset: i64) -> Vec<String> {
    vec![
        String::new(),
        format!(
            "{:<30} {:<30} {:<10} {:<15}",
            "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
        ),
        format!("{group:<30} {:<30} {:<10} {offset:<15}", "orders", 0),
    ]
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_groups_offsets_members_state_resets_and_deletion() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "orders", 1);
    run_with_input(
        &tools_support::strings(&[
            "console-producer",
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--sync",
        ]),
        "o0\no1\no2\n",
    )
    .ok();
    std::thread::sleep(Duration::from_millis(20));
    let between = now_ms();
    std::thread::sleep(Duration::from_millis(20));
    run_with_input(
        &tools_support::strings(&[
            "console-producer",
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--sync",
        ]),
        "o3\no4\n",
    )
    .ok();

    // Two runs of the same group with --max-messages continue each other.
    for expected in [["o0", "o1"], ["o2", "o3"]] {
        let read = ringlog(&[
            "console-consumer",
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--from-beginning",
            "--group",
            "g_01",
            "--max-messages",
            "2",
        ]);
        assert_eq!(read.ok(), expected);
    }
    let described = describe(&b, "g_01");
    assert_eq!(
        described.ok(),
        [
            "",
            OFFSETS_HEADER,
            &unassigned_row("g_01", "orders", 0, 4, 5)
        ]
    );
    assert!(
        described
            .stderr
            .contains("Consumer group 'g_01' has no active members."),
        "{}",
        described.stderr
    );

    // A live member: it reads o4 and stays.
    let member = spawn(&tools_support::strings(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "orders",
        "--group",
        "g_01",
    ]));
    assert_eq!(member.line(Duration::from_secs(30)).as_deref(), Some("o4"));
    // seed 001: ./kafka-consumer-groups.sh --bootstrap-server node1...:9092,node2...:9092 --group g_01 --members --describe
    let members = run(&seed(
        "./kafka-consumer-groups.sh --bootstrap-server node1.itcast.cn:9092,node2.itcast.cn:9092 --group g_01 --members --describe",
        &b,
    ));
    let lines = members.ok();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row.len(), 5, "{row:?}");
    let member_id = row[1].to_string();
    assert_eq!(
        (row[0], row[3], row[4]),
        ("g_01", "console-consumer", "1"),
        "{row:?}"
    );
    assert!(member_id.starts_with("console-consumer-"), "{member_id}");
    let host = row[2].to_string();
    // The member's address as Kafka shows it: "/" and the client's IP.
    assert_eq!(host, "/127.0.0.1");
    // Columns start where the header's do.
    assert_eq!(lines[1].find("CONSUMER-ID"), lines[2].find(&member_id));
    let verbose = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--group",
        "g_01",
        "--describe",
        "--members",
        "--verbose",
    ]);
    assert!(
        verbose.ok()[2].trim_end().ends_with("orders(0)"),
        "{:?}",
        verbose.stdout
    );

    // Its commit of offset 5 arrives with the auto-commit (5 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let live_row = format!(
        "{:<15} {:<15} {:<10} {:<15} {:<15} {:<15} {member_id} {host:<15} console-consumer",
        "g_01", "orders", 0, 5, 5, 0
    );
    loop {
        let lines = describe(&b, "g_01")
            .ok()
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>();
        if lines.len() == 3 && lines[2] == live_row {
            break;
        }
        assert!(Instant::now() < deadline, "{lines:?}\nwanted {live_row}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let state = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--group",
        "g_01",
        "--describe",
        "--state",
    ]);
    let coordinator = format!("127.0.0.1:{}  (1)", broker.port);
    assert_eq!(
        state.ok(),
        [
            "",
            &format!(
                "{:<25} {:<25} {:<20} {:<15} #MEMBERS",
                "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE"
            ),
            &format!(
                "{:<25} {coordinator:<25} {:<20} {:<15} 1",
                "g_01", "range", "Stable"
            ),
        ]
    );
    let refused = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--group",
        "g_01",
        "--reset-offsets",
        "--to-earliest",
        "--topic",
        "orders",
        "--execute",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stdout.contains(
            "Error: Assignments can only be reset if the group 'g_01' is inactive, but the current state is Stable."
        ),
        "{}",
        refused.stdout
    );
    let (status, stderr) = member.interrupt();
    assert!(status.success(), "{stderr}");

    // Resets, now that the group is empty: a dry run changes nothing.
    assert_eq!(
        reset(&b, "g_01", &["--to-earliest"], "--dry-run"),
        plan("g_01", 0)
    );
    assert_eq!(
        describe(&b, "g_01").ok()[2],
        unassigned_row("g_01", "orders", 0, 5, 5)
    );
    assert_eq!(
        reset(&b, "g_01", &["--to-earliest"], "--execute"),
        plan("g_01", 0)
    );
    assert_eq!(
        describe(&b, "g_01").ok()[2],
        unassigned_row("g_01", "orders", 0, 0, 5)
    );
    assert_eq!(
        reset(&b, "g_01", &["--shift-by", "2"], "--execute"),
        plan("g_01", 2)
    );
    assert_eq!(
        reset(&b, "g_01", &["--shift-by", "-7"], "--execute"),
        plan("g_01", 0)
    );
    assert_eq!(
        reset(&b, "g_01", &["--to-offset", "99"], "--execute"),
        plan("g_01", 5)
    );
    assert_eq!(
        reset(&b, "g_01", &["--to-offset", "1"], "--execute"),
        plan("g_01", 1)
    );
    let datetime = chrono::DateTime::from_timestamp_millis(between)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    assert_eq!(
        reset(&b, "g_01", &["--to-datetime", &datetime], "--execute"),
        plan("g_01", 3)
    );
    assert_eq!(
        reset(&b, "g_01", &["--to-latest"], "--execute"),
        plan("g_01", 5)
    );
    assert_eq!(
        describe(&b, "g_01").ok()[2],
        unassigned_row("g_01", "orders", 0, 5, 5)
    );
    let exported = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--group",
        "g_01",
        "--reset-offsets",
        "--to-offset",
        "2",
        "--topic",
        "orders:0",
        "--dry-run",
        "--export",
    ]);
    assert_eq!(exported.ok(), ["orders,0,2"]);

    assert_eq!(
        ringlog(&["consumer-groups", "--bootstrap-server", &b, "--list"]).ok(),
        ["g_01"]
    );
    let with_state = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--list",
        "--state",
    ]);
    assert_eq!(
        with_state.ok(),
        [
            format!("{:<25} {:<20}", "GROUP", "STATE"),
            format!("{:<25} {:<20}", "g_01", "Empty")
        ]
    );

    let deleted = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--delete",
        "--group",
        "g_01",
    ]);
    assert_eq!(
        deleted.ok(),
        ["Deletion of requested consumer groups ('g_01') was successful."]
    );
    let gone = describe(&b, "g_01");
    assert_eq!(
        gone.lines(),
        ["", "Error: Consumer group 'g_01' does not exist."]
    );
    let again = ringlog(&[
        "consumer-groups",
        "--bootstrap-server",
        &b,
        "--delete",
        "--group",
        "g_01",
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        again.lines(),
        [
            "",
            "Error: Deletion of some consumer groups failed:",
            "* Group 'g_01' could not be deleted due to: org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist."
        ]
    );
}
