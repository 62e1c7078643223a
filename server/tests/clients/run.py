#!/usr/bin/env python3
"""The client compatibility matrix: every Kafka client we claim, every
scenario, against the real broker; writes docs/compatibility.md from what it
saw.

Each client has a driver (a small program in this directory, using the
client the way its own documentation shows) that performs one scenario and
prints what it observed as JSON lines on stdout: the records it produced
(with the offsets the client reported), the records it consumed, the offsets
it committed, and named facts (an admin call's answer). The driver only
reports; every assertion is made here, once, for all clients (`check_*`).
A driver that cannot go on exits non-zero, its last stderr line is the
reason.

    run.py ──start──▶ ringlog serve (target/debug/ringlog, fresh data dir)
       │
       ├──for each (client, scenario), 3 at a time──▶ driver SCENARIO ARGS
       │                                               └─ JSON lines ─▶ check_SCENARIO
       ├── compare with expectations.toml (strict: an expected failure that
       │   passes fails the run, as does an unexpected failure)
       └── write docs/compatibility.md; fail if it changed (commit it)

Usage: run.py [--only CLIENT[,CLIENT]] [--scenario NAME] [--keep-log PATH]
             [--no-doc-check]
The broker log goes to target/clients/broker.log (RUST_LOG from the
environment, "info" otherwise).
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TARGET = ROOT / "target"
CLIENTS_TARGET = TARGET / "clients"
VENV_PYTHON = TARGET / "python-venv" / "bin" / "python"
DOC = ROOT / "docs" / "compatibility.md"

# How many records each scenario sends: enough to fill every partition of
# a three-partition topic several times over, few enough to stay quick.
RECORDS = 24
# A scenario that has not finished by then has failed ("timed out").
SCENARIO_TIMEOUT_S = 40
PARALLEL = 3

CODECS = ["gzip", "snappy", "lz4", "zstd"]
BASE_SCENARIOS = ["produce_consume", *CODECS, "group_resume", "group_admin", "admin"]

SCENARIO_DOCS = {
    "produce_consume": "keyed records with headers to a 3-partition topic, read back from the earliest offset",
    "gzip": "the same, compressed with gzip", "snappy": "... snappy", "lz4": "... lz4", "zstd": "... zstd",
    "group_resume": "a group member reads the first half, commits, closes; after more records a new member resumes at the committed offsets",
    "group_admin": "list, describe and delete a group its last member just left",
    "admin": "create a topic with a config, grow its partitions, describe its config, delete it",
    "sync_producer": "pykafka's get_sync_producer: each produce returns once acknowledged",
    "delivery_reports": "pykafka's async producer with delivery_reports=True",
    "offsets": "earliest and latest available offsets per partition",
    "metadata": "kcat -L: the broker, the topic and its partitions",
    "simple_consumer_group": "pykafka's SimpleConsumer with consumer_group and auto_commit_enable, resumed",
    "balanced_consumer": "pykafka's get_balanced_consumer(managed=True), resumed",
}


@dataclass
class Client:
    """One row of the matrix: a client library (or one configuration of it)."""

    name: str
    command: list
    version: str
    scenarios: list
    # Scenarios the client does not offer, with why (shown as "n/a").
    not_offered: dict = field(default_factory=dict)
    # Which header support the driver reports: False = client has no headers.
    headers: bool = True
    # Facts the admin scenario must report (the calls the client offers).
    admin_facts: tuple = ("created", "partitions", "grown_partitions", "retention_ms", "deleted")
    # Facts the group_admin scenario must report.
    group_admin_facts: tuple = ("listed", "state", "committed", "deleted", "listed_after_delete")
    build: object = None


def pip_version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def deb_version(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                         capture_output=True, text=True)
    return out.stdout.strip() or "not installed"


def npm_version(package):
    path = CLIENTS_TARGET / "node" / "node_modules" / package / "package.json"
    return json.loads(path.read_text())["version"] if path.exists() else "not installed"


def kcat_version():
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    kcat = re.search(r"Version (\S+)", out)
    librdkafka = re.search(r"librdkafka (\S+)", out)
    return f"{kcat.group(1) if kcat else '?'} (librdkafka {librdkafka.group(1) if librdkafka else '?'})"


def rdkafka_version():
    lock = (ROOT / "Cargo.lock").read_text()
    crate = re.search(r'name = "rdkafka"\nversion = "([^"]+)"', lock)
    sys_crate = re.search(r'name = "rdkafka-sys"\nversion = "[^+"]+\+([^"]+)"', lock)
    return f"{crate.group(1) if crate else '?'} (librdkafka {sys_crate.group(1) if sys_crate else '?'})"


def go_build(name):
    """Builds a Go driver in GOPATH mode from Debian's sources, cached in
    target/clients/go (Go's own build cache there too)."""
    def build():
        out = CLIENTS_TARGET / "go" / name
        source = HERE / name / "main.go"
        if out.exists() and out.stat().st_mtime >= source.stat().st_mtime:
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
               "GOCACHE": str(CLIENTS_TARGET / "go" / "cache")}
        done = subprocess.run(["go", "build", "-o", str(out), str(source)], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"go build {name} failed:\n{done.stderr}")
    return build


def python_driver(script, *args):
    return [str(VENV_PYTHON), str(HERE / script), *args]


def clients():
    python_full = BASE_SCENARIOS
    rows = [
        Client("librdkafka (rdkafka crate)", [str(TARGET / "debug" / "examples" / "rdkafka_client")],
               rdkafka_version(), python_full),
        Client("confluent-kafka", python_driver("confluent_driver.py"),
               f"{pip_version('confluent-kafka')} (librdkafka {confluent_librdkafka()})", python_full),
        Client("kcat", python_driver("kcat_driver.py"), kcat_version(),
               ["produce_consume", *CODECS, "group_resume", "metadata"],
               not_offered={"group_admin": "kcat has no group admin commands",
                            "admin": "kcat has no topic admin commands"}),
        Client("kafka-python", python_driver("kafka_python_driver.py"),
               pip_version("kafka-python"), python_full),
    ]
    # What kafka-python refuses to send to a broker of the pinned version.
    pinned_limits = {
        "0.10.1": {"zstd": "zstd needs Kafka 2.1 (kafka-python refuses it)"},
        "0.11": {"zstd": "zstd needs Kafka 2.1 (kafka-python refuses it)"},
        "2.0": {"zstd": "zstd needs Kafka 2.1 (kafka-python refuses it)"},
    }
    for api, limits in pinned_limits.items():
        scenarios = [s for s in python_full if s not in limits]
        rows.append(Client(
            f"kafka-python api_version=({api.replace('.', ',')})",
            python_driver("kafka_python_driver.py", "--api-version", api),
            pip_version("kafka-python"), scenarios, not_offered=limits,
            headers=api != "0.10.1",
            # CreatePartitions is Kafka 1.0's, DescribeConfigs 0.11's, DeleteGroups 1.1's.
            admin_facts={"0.10.1": ("created", "partitions", "deleted"),
                         "0.11": ("created", "partitions", "retention_ms", "deleted")}.get(
                             api, Client.admin_facts),
            group_admin_facts=("listed", "state", "committed") if api in ("0.10.1", "0.11") else
            Client.group_admin_facts))
    rows += [
        Client("aiokafka", python_driver("aiokafka_driver.py"), pip_version("aiokafka"), python_full,
               group_admin_facts=("listed", "state", "committed")),
        Client("pykafka", python_driver("pykafka_driver.py"), pip_version("pykafka"),
               ["produce_consume", "gzip", "snappy", "lz4", "sync_producer", "delivery_reports",
                "offsets", "simple_consumer_group", "balanced_consumer"],
               not_offered={"zstd": "pykafka has no zstd codec",
                            "group_admin": "pykafka has no group admin calls",
                            "admin": "pykafka has no admin calls"},
               headers=False),
        Client("KafkaJS", ["node", str(HERE / "kafkajs" / "driver.js")],
               npm_version("kafkajs"), ["produce_consume", "gzip", "snappy", "group_resume",
                                        "group_admin", "admin"],
               not_offered={"lz4": "KafkaJS has no lz4 codec that installs without a native build",
                            "zstd": "KafkaJS has no zstd codec that installs without a native build"}),
    ]
    for version in ["0.11.0.0", "2.1.0"]:
        rows.append(Client(
            f"Sarama Version={version}", [str(CLIENTS_TARGET / "go" / "sarama"), "-version", version],
            deb_version("golang-github-shopify-sarama-dev"),
            python_full if version >= "2.1" else [s for s in python_full if s != "zstd"],
            not_offered={} if version >= "2.1" else {"zstd": "zstd needs Kafka 2.1 (Sarama refuses it)"},
            group_admin_facts=("listed", "state", "committed"),
            admin_facts=Client.admin_facts if version >= "2.1" else
            ("created", "partitions", "retention_ms", "deleted"),
            build=go_build("sarama")))
    rows.append(Client(
        "kafka-go", [str(CLIENTS_TARGET / "go" / "kafkago")],
        deb_version("golang-github-segmentio-kafka-go-dev"),
        ["produce_consume", "gzip", "snappy", "lz4", "group_resume", "admin"],
        not_offered={"zstd": "kafka-go 0.2 has no zstd codec",
                     "group_admin": "kafka-go 0.2 has no group admin calls"},
        headers=False, admin_facts=("created", "partitions", "deleted"),
        build=go_build("kafkago")))
    return rows


def confluent_librdkafka():
    out = subprocess.run([str(VENV_PYTHON), "-c", "import confluent_kafka; print(confluent_kafka.libversion()[0])"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


# --- the broker ---------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """The real ringlog binary on a free port with a fresh data directory."""

    def __init__(self, log_path):
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="ringlog-clients-")
        self.log = open(log_path, "w")
        binary = os.environ.get("RINGLOG_BIN", str(TARGET / "debug" / "ringlog"))
        self.process = subprocess.Popen(
            [binary, "serve",
             "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
             "--override", f"log.dirs={self.data}",
             "--override", "num.shards=2",
             "--override", "num.partitions=3"],
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"the broker exited: see {log_path}")
                if time.time() > deadline:
                    raise SystemExit("the broker did not listen within 20 s")
                time.sleep(0.05)
        self.bootstrap = f"127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        code = self.process.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)
        return code


# --- running one scenario -----------------------------------------------------------

class Failed(Exception):
    pass


def topic_name(client, scenario):
    return re.sub(r"[^a-zA-Z0-9]+", "-", f"{client}-{scenario}").strip("-").lower()


def run_scenario(client, scenario, bootstrap):
    """Runs one driver; returns (passed, reason)."""
    topic = topic_name(client.name, scenario)
    args = {"scenario": scenario, "bootstrap": bootstrap, "topic": topic, "group": f"{topic}-group",
            "records": RECORDS, "client": client.name}
    command = client.command + [json.dumps(args)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as timeout:
        events = parse_events(as_text(timeout.stdout))
        last = last_line(as_text(timeout.stderr))
        return False, (f"timed out after {SCENARIO_TIMEOUT_S} s ({describe_progress(events)})"
                       + (f"; last said: {last[:200]}" if last else ""))
    events = parse_events(done.stdout)
    if done.returncode != 0:
        reason = last_line(done.stderr) or f"exit code {done.returncode}"
        return False, f"{reason[:300]} ({describe_progress(events)})"
    try:
        CHECKS.get(scenario, check_records)(client, scenario, args, events)
    except Failed as failure:
        return False, str(failure)
    return True, ""


def as_text(output):
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def last_line(stderr):
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_events(stdout):
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return events


def describe_progress(events):
    counts = {}
    for event in events:
        counts[event["ev"]] = counts.get(event["ev"], 0) + 1
    return ", ".join(f"{n} {ev}" for ev, n in sorted(counts.items())) or "no events"


# --- the checks, one place for every client -----------------------------------------

def expected_record(args, i):
    """What every driver sends as record i (drivers build it the same way)."""
    return {"key": f"key-{i % 4}", "value": f"{args['topic']}:{i}",
            "headers": [["seq", str(i)], ["client", "ringlog-matrix"]]}


def of(events, kind, phase=None):
    return [e for e in events if e["ev"] == kind and (phase is None or e.get("phase") == phase)]


def check_produced(client, args, events, count):
    produced = of(events, "produced")
    if len(produced) != count:
        raise Failed(f"{len(produced)} of {count} records acknowledged")
    for e in produced:
        if e.get("error"):
            raise Failed(f"produce error: {e['error']}")
    offsets = {}
    for e in produced:
        if e.get("offset") is not None:
            offsets.setdefault(e["partition"], []).append(e["offset"])
    for partition, seen in offsets.items():
        if sorted(seen) != list(range(len(seen))):
            raise Failed(f"partition {partition}: acknowledged offsets {sorted(seen)}, want 0..{len(seen) - 1}")
    return produced


def check_consumed_records(client, args, consumed, indices):
    """The consumed records are exactly records `indices`, each once, with
    their keys, values and headers, dense offsets in send order per partition,
    and one partition per key."""
    by_value = {}
    for e in consumed:
        if e["value"] in by_value:
            raise Failed(f"{e['value']!r} delivered twice (offsets {by_value[e['value']]['offset']} and {e['offset']})")
        by_value[e["value"]] = e
    want = {expected_record(args, i)["value"]: i for i in indices}
    missing = sorted(set(want) - set(by_value), key=lambda v: want[v])
    extra = sorted(set(by_value) - set(want))
    if missing or extra:
        raise Failed(f"consumed {len(consumed)} records, want {len(want)}; missing {missing[:3]}, unexpected {extra[:3]}")
    key_partition = {}
    for e in consumed:
        record = expected_record(args, want[e["value"]])
        if e["key"] != record["key"]:
            raise Failed(f"{e['value']}: key {e['key']!r}, want {record['key']!r}")
        if client.headers and [list(h) for h in e.get("headers") or []] != record["headers"]:
            raise Failed(f"{e['value']}: headers {e.get('headers')}, want {record['headers']}")
        if key_partition.setdefault(e["key"], e["partition"]) != e["partition"]:
            raise Failed(f"key {e['key']} in partitions {key_partition[e['key']]} and {e['partition']}")
    for partition in {e["partition"] for e in consumed}:
        mine = sorted((e for e in consumed if e["partition"] == partition), key=lambda e: e["offset"])
        sequence = [want[e["value"]] for e in mine]
        if sequence != sorted(sequence):
            raise Failed(f"partition {partition}: records out of send order {sequence}")
        offsets = [e["offset"] for e in mine]
        if offsets != list(range(offsets[0], offsets[0] + len(offsets))):
            raise Failed(f"partition {partition}: offsets not dense: {offsets}")


def check_records(client, scenario, args, events):
    count = args["records"]
    produced = check_produced(client, args, events, count)
    consumed = of(events, "consumed")
    check_consumed_records(client, args, consumed, range(count))
    for e in consumed:
        if e["offset"] < 0:
            raise Failed(f"negative offset {e['offset']}")
    # What the producer was told matches where the consumer found it.
    for p in produced:
        if p.get("offset") is None:
            continue
        c = next(e for e in consumed if e["value"] == p["value"])
        if (c["partition"], c["offset"]) != (p["partition"], p["offset"]):
            raise Failed(f"{p['value']}: acknowledged at {p['partition']}/{p['offset']}, "
                         f"consumed at {c['partition']}/{c['offset']}")
    for partition in {e["partition"] for e in consumed}:
        first = min(e["offset"] for e in consumed if e["partition"] == partition)
        if first != 0:
            raise Failed(f"partition {partition}: first offset {first}, want 0 (a new topic)")


def check_group_resume(client, scenario, args, events):
    """The driver produces records [0, half), a group member reads them all,
    commits and closes; the driver produces [half, records) and a new member
    of the same group must read exactly those, starting at the committed
    offset of every partition."""
    count, half = args["records"], args["records"] // 2
    check_produced(client, args, events, count)
    first, second = of(events, "consumed", "a"), of(events, "consumed", "b")
    committed = {e["partition"]: e["offset"] for e in of(events, "committed", "a")}
    check_consumed_records(client, args, first, range(half))
    # What the first member committed is what it consumed, per partition.
    for partition in {e["partition"] for e in first}:
        last = max(e["offset"] for e in first if e["partition"] == partition)
        if committed.get(partition) != last + 1:
            raise Failed(f"partition {partition}: committed {committed.get(partition)}, consumed up to {last}")
    check_consumed_records(client, args, second, range(half, count))
    # The second member starts exactly at the committed offsets.
    for partition in {e["partition"] for e in second}:
        start = min(e["offset"] for e in second if e["partition"] == partition)
        if start != committed.get(partition, 0):
            raise Failed(f"partition {partition}: resumed at {start}, committed {committed.get(partition, 0)}")
    check_consumed_records(client, args, first + second, range(count))
    for e in of(events, "fetched_commit"):
        if e["offset"] != committed.get(e["partition"], e["offset"]):
            raise Failed(f"partition {e['partition']}: the group's committed offset reads back as "
                         f"{e['offset']}, committed {committed[e['partition']]}")


def facts(events):
    return {e["name"]: e["value"] for e in of(events, "fact")}


def check_facts(events, wanted):
    got = facts(events)
    for name, value in wanted.items():
        if name not in got:
            raise Failed(f"no {name} reported (have {sorted(got)})")
        if got[name] != value:
            raise Failed(f"{name}: {got[name]!r}, want {value!r}")


def check_admin(client, scenario, args, events):
    wanted = {"created": True, "partitions": 2, "grown_partitions": 4, "retention_ms": "3600000",
              "deleted": True}
    check_facts(events, {name: wanted[name] for name in client.admin_facts})


def check_group_admin(client, scenario, args, events):
    check_produced(client, args, events, args["records"])
    wanted = {"listed": True, "state": "Empty", "committed": args["records"], "deleted": True,
              "listed_after_delete": False}
    check_facts(events, {name: wanted[name] for name in client.group_admin_facts})


def check_metadata(client, scenario, args, events):
    check_facts(events, {"partitions": 3, "brokers": 1})


def check_offsets(client, scenario, args, events):
    check_produced(client, args, events, args["records"])
    got = facts(events)
    produced = of(events, "produced")
    per_partition = {}
    for e in produced:
        per_partition[e["partition"]] = per_partition.get(e["partition"], 0) + 1
    earliest, latest = got.get("earliest"), got.get("latest")
    if earliest is None or latest is None:
        raise Failed(f"earliest/latest not reported: {got}")
    for partition, n in per_partition.items():
        if earliest.get(str(partition)) != 0 or latest.get(str(partition)) != n:
            raise Failed(f"partition {partition}: earliest {earliest.get(str(partition))}, "
                         f"latest {latest.get(str(partition))}, want 0 and {n}")


def check_delivery_reports(client, scenario, args, events):
    produced = check_produced(client, args, events, args["records"])
    if any(e.get("offset") is None for e in produced):
        raise Failed("a delivery report without an offset")
    check_records(client, scenario, args, events)


CHECKS = {
    "group_resume": check_group_resume,
    "simple_consumer_group": check_group_resume,
    "balanced_consumer": check_group_resume,
    "admin": check_admin,
    "group_admin": check_group_admin,
    "offsets": check_offsets,
    "metadata": check_metadata,
    "delivery_reports": check_delivery_reports,
    "sync_producer": check_delivery_reports,
}


# --- expectations and the document ---------------------------------------------------

def load_expectations():
    path = HERE / "expectations.toml"
    table = tomllib.loads(path.read_text()) if path.exists() else {}
    expected = {}
    for client, scenarios in table.items():
        for scenario, entry in scenarios.items():
            for required in ("reason", "issue"):
                if required not in entry:
                    raise SystemExit(f"expectations.toml: {client}.{scenario} lacks {required}")
            expected[(client, scenario)] = entry
    return expected


def write_doc(rows, results, expected):
    scenarios = []
    for row in rows:
        for scenario in [*row.scenarios, *row.not_offered]:
            if scenario not in scenarios:
                scenarios.append(scenario)
    order = [*BASE_SCENARIOS, *[s for s in SCENARIO_DOCS if s not in BASE_SCENARIOS]]
    scenarios.sort(key=order.index)
    lines = [
        "# Client compatibility",
        "",
        "Written by `server/tests/clients/run.py` (run by `scripts/test.sh`) from what the",
        "clients did against the real broker; do not edit by hand. Each cell is one driver run",
        "(`server/tests/clients/*`); the run fails when a result differs from",
        "`server/tests/clients/expectations.toml` (in either direction) or when this file",
        "changed, so it says what CI saw.",
        "",
        "pass: the scenario ran and every check held (values, keys, headers, offsets, order per",
        "partition, committed offsets). FAIL n: see note n. n/a: the client does not offer it.",
        "",
        "| client | version | " + " | ".join(scenarios) + " |",
        "| --- | --- | " + " | ".join("---" for _ in scenarios) + " |",
    ]
    notes = []
    for row in rows:
        cells = []
        for scenario in scenarios:
            if scenario in row.not_offered:
                cells.append("n/a")
            elif scenario not in row.scenarios:
                cells.append("")
            elif results[(row.name, scenario)][0]:
                cells.append("pass")
            else:
                entry = expected.get((row.name, scenario))
                note = (f"{entry['reason']} (waits on {entry['issue']})" if entry
                        else f"unexpected: {results[(row.name, scenario)][1]}")
                if note not in notes:
                    notes.append(note)
                cells.append(f"FAIL {notes.index(note) + 1}")
        lines.append(f"| {row.name} | {row.version} | " + " | ".join(cells) + " |")
    lines += ["", "## Scenarios", ""]
    lines += [f"- **{s}**: {SCENARIO_DOCS[s]}" for s in scenarios]
    if notes:
        lines += ["", "## Failures", ""]
        lines += [f"{n}. {note}" for n, note in enumerate(notes, 1)]
    lines += ["", "## What the admin cells cover", "",
              "Each client makes the calls it offers; the cell checks the answers of those:", ""]
    for row in rows:
        covered = []
        if "admin" in row.scenarios:
            covered.append("admin: " + ", ".join(row.admin_facts))
        if "group_admin" in row.scenarios:
            covered.append("group_admin: " + ", ".join(row.group_admin_facts))
        if covered:
            lines.append(f"- {row.name}: " + "; ".join(covered))
    not_offered = [(row.name, s, why) for row in rows for s, why in row.not_offered.items()]
    if not_offered:
        lines += ["", "## Not offered", ""]
        lines += [f"- {name}, {s}: {why}" for name, s, why in not_offered]
    text = "\n".join(lines) + "\n"
    before = DOC.read_text() if DOC.exists() else ""
    DOC.write_text(text)
    return before != text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="comma-separated client names (substring match)")
    parser.add_argument("--scenario", help="run only this scenario")
    parser.add_argument("--no-doc-check", action="store_true",
                        help="write docs/compatibility.md but do not fail when it changed")
    options = parser.parse_args()

    rows = clients()
    selected = rows
    if options.only:
        wanted = [w.strip().lower() for w in options.only.split(",")]
        selected = [row for row in rows if any(w in row.name.lower() for w in wanted)]
    for row in selected:
        if row.build:
            row.build()
    expected = load_expectations()
    known = {(row.name, s) for row in rows for s in row.scenarios}
    stale = [key for key in expected if key not in known]
    if stale:
        raise SystemExit(f"expectations.toml names scenarios no client runs: {stale}")

    CLIENTS_TARGET.mkdir(parents=True, exist_ok=True)
    log_path = CLIENTS_TARGET / "broker.log"
    broker = Broker(log_path)
    jobs = [(row, s) for row in selected for s in row.scenarios
            if not options.scenario or s == options.scenario]
    results = {}
    started = time.time()
    try:
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            futures = {pool.submit(run_scenario, row, s, broker.bootstrap): (row, s) for row, s in jobs}
            for future in concurrent.futures.as_completed(futures):
                row, s = futures[future]
                results[(row.name, s)] = future.result()
    finally:
        code = broker.stop()
    elapsed = time.time() - started

    surprises = []
    counts = {"passed": 0, "failed": 0, "expected failures": 0}
    for row, s in jobs:
        passed, reason = results[(row.name, s)]
        entry = expected.get((row.name, s))
        if passed and entry:
            surprises.append(f"{row.name} / {s}: passes now; remove it from expectations.toml "
                             f"(was: {entry['reason']})")
            counts["failed"] += 1
        elif passed:
            counts["passed"] += 1
        elif entry:
            counts["expected failures"] += 1
            print(f"  xfail {row.name} / {s}: {reason}")
        else:
            surprises.append(f"{row.name} / {s}: {reason}")
            counts["failed"] += 1
    if code != 0:
        surprises.append(f"the broker exited with {code} at the end (see {log_path})")
    print(f"client matrix: {len(jobs)} runs in {elapsed:.0f} s, broker log {log_path}")
    for surprise in surprises:
        print(f"  FAIL {surprise}")

    if len(selected) == len(rows) and not options.scenario:
        changed = write_doc(rows, results, expected)
        if changed and not surprises and not options.no_doc_check:
            surprises.append("docs/compatibility.md changed: commit the rewritten file")
            print("  FAIL docs/compatibility.md was out of date; rewritten, commit it")
    print(f"{counts['expected failures']} expected failures (expectations.toml)")
    print(f"clients: {counts['passed']} passed, {counts['failed']} failed")
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main())
