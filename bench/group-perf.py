#!/usr/bin/env python3
"""Consumer-group figures against a release `ringlog serve` (2 shards):

  rebalance   10 librdkafka members (confluent-kafka, range assignor) on a
              100-partition topic: time until all 10 hold 10 partitions each
              after they subscribe together, and after one of them leaves
              (LeaveGroup) until the other 9 hold all 100. Median of RUNS.
  commits     synchronous offset commits per second (one fdatasync'ed
              OffsetCommit per call) from 1 and from 8 clients (threads,
              one group each), with latency percentiles.
  memory      broker RSS growth per 10,000 groups: offsets-only groups (one
              committed offset each), then groups with one member each
              (JoinGroup + SyncGroup + a commit), through raw frames; and the
              time the restarted broker takes to load them.

Usage: target/python-venv/bin/python bench/group-perf.py   (after cargo build --release -p ringlog)
Env:   RUNS (default 5), COMMIT_SECS (default 5), GROUPS (default 10000), PERF_DIR
"""
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ringlog")
DATA = os.environ.get("PERF_DIR", "/work/ringlog-group-perf")
RUNS = int(os.environ.get("RUNS", "5"))
COMMIT_SECS = float(os.environ.get("COMMIT_SECS", "5"))
GROUPS = int(os.environ.get("GROUPS", "10000"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    def __init__(self):
        self.port = free_port()
        shutil.rmtree(DATA, ignore_errors=True)
        self.log = open(DATA + ".log", "w")
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            [BINARY, "serve",
             "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
             "--override", f"log.dirs={DATA}",
             "--override", "num.shards=2"],
            env={**os.environ, "RUST_LOG": "info"}, stderr=self.log)
        self.started = time.time()
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.time() < deadline
                time.sleep(0.02)

    def stop(self):
        self.process.terminate()
        self.process.wait(30)

    def rss_bytes(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"


def create_topic(broker, name, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result()


# ---- rebalance ----

class Member:
    def __init__(self, broker, group, topic, heartbeat_ms):
        self.assignment = []
        self.stop = False
        self.consumer = Consumer({
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "partition.assignment.strategy": "range",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": heartbeat_ms,
            "enable.auto.commit": False,
        })
        self.consumer.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def on_assign(self, consumer, partitions):
        self.assignment = [p.partition for p in partitions]

    def on_revoke(self, consumer, partitions):
        self.assignment = []

    def run(self):
        while not self.stop:
            self.consumer.poll(0.05)
        self.consumer.close()

    def leave(self):
        self.stop = True
        self.thread.join()


def wait_until(condition, seconds=60):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise TimeoutError
        time.sleep(0.005)
    return time.time()


def rebalance(broker, heartbeat_ms):
    joins, leaves = [], []
    for run in range(RUNS):
        group = f"rebalance-{heartbeat_ms}-{run}"
        start = time.time()
        members = [Member(broker, group, "rebalance", heartbeat_ms) for _ in range(10)]
        done = wait_until(lambda: all(len(m.assignment) == 10 for m in members))
        joins.append(done - start)
        start = time.time()
        members[0].leave()
        rest = members[1:]
        done = wait_until(lambda: sorted(p for m in rest for p in m.assignment) == list(range(100)))
        leaves.append(done - start)
        for member in rest:
            member.leave()
    return statistics.median(joins), statistics.median(leaves), joins, leaves


# ---- commits ----

def committer(broker, group, seconds, latencies):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    offset = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        offset += 1
        started = time.perf_counter()
        consumer.commit(offsets=[TopicPartition("commits", offset % 4, offset)], asynchronous=False)
        latencies.append(time.perf_counter() - started)
    consumer.close()


def commits(broker, clients):
    latencies = [[] for _ in range(clients)]
    threads = [threading.Thread(target=committer,
                                args=(broker, f"committer-{clients}-{i}", COMMIT_SECS, latencies[i]))
               for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(latency for per_client in latencies for latency in per_client)
    rate = len(every) / COMMIT_SECS
    return rate, every[len(every) // 2] * 1000, every[int(len(every) * 0.99)] * 1000


# ---- memory: raw frames ----

def string(text):
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def frame(api_key, version, correlation, body):
    payload = struct.pack(">hhi", api_key, version, correlation) + string("perf") + body
    return struct.pack(">i", len(payload)) + payload


def offset_commit_v2(group, generation, member, topic, partition, offset):
    return (string(group) + struct.pack(">i", generation) + string(member) + struct.pack(">q", -1)
            + struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
            + struct.pack(">iq", partition, offset) + string(""))


def join_group_v1(group):
    subscription = struct.pack(">h", 0) + struct.pack(">i", 1) + string("memory") + struct.pack(">i", -1)
    return (string(group) + struct.pack(">ii", 1_800_000, 60_000) + string("") + string("consumer")
            + struct.pack(">i", 1) + string("range") + struct.pack(">i", len(subscription)) + subscription)


def sync_group_v0(group, generation, member):
    assignment = b"\x00\x00" + struct.pack(">i", 1) + string("memory") + struct.pack(">ii", 1, 0) + struct.pack(">i", -1)
    return (string(group) + struct.pack(">i", generation) + string(member) + struct.pack(">i", 1)
            + string(member) + struct.pack(">i", len(assignment)) + assignment)


class Raw:
    def __init__(self, broker):
        self.sock = socket.create_connection(("127.0.0.1", broker.port))
        self.correlation = 0

    def send(self, api_key, version, body):
        self.correlation += 1
        self.sock.sendall(frame(api_key, version, self.correlation, body))

    def receive(self):
        size = struct.unpack(">i", self.recv_exact(4))[0]
        return self.recv_exact(size)[4:]  # past the correlation id

    def recv_exact(self, count):
        out = b""
        while len(out) < count:
            chunk = self.sock.recv(count - len(out))
            assert chunk, "connection closed"
            out += chunk
        return out


def read_string(data, at):
    length = struct.unpack_from(">h", data, at)[0]
    return data[at + 2: at + 2 + length].decode(), at + 2 + length


def fill_offsets_only(broker, prefix, count, batch=200):
    raw = Raw(broker)
    for start in range(0, count, batch):
        for index in range(start, min(count, start + batch)):
            raw.send(8, 2, offset_commit_v2(f"{prefix}-{index}", -1, "", "memory", 0, index))
        for _ in range(start, min(count, start + batch)):
            answer = raw.receive()
            assert answer[-2:] == b"\x00\x00", answer  # error code of the one partition


def fill_with_members(broker, prefix, count):
    raw = Raw(broker)
    for index in range(count):
        group = f"{prefix}-{index}"
        raw.send(11, 1, join_group_v1(group))
        answer = raw.receive()
        error, generation = struct.unpack_from(">hi", answer, 0)
        assert error == 0, error
        _, at = read_string(answer, 6)      # protocol
        _, at = read_string(answer, at)     # leader
        member, _ = read_string(answer, at)
        raw.send(14, 0, sync_group_v0(group, generation, member))
        assert struct.unpack_from(">h", raw.receive(), 0)[0] == 0
        raw.send(8, 2, offset_commit_v2(group, generation, member, "memory", 0, index))
        assert raw.receive()[-2:] == b"\x00\x00"


def settled_rss(broker):
    time.sleep(1.0)
    return broker.rss_bytes()


def offset_fetch_v1(group, topic, partition):
    return string(group) + struct.pack(">i", 1) + string(topic) + struct.pack(">ii", 1, partition)


def ready_after_restart(broker, groups):
    """Seconds from the restarted process's start until every sampled group
    answers OffsetFetch without COORDINATOR_LOAD_IN_PROGRESS (14)."""
    pending = set(groups)
    while pending:
        raw = Raw(broker)
        for group in sorted(pending):
            raw.send(9, 1, offset_fetch_v1(group, "memory", 0))
            if struct.unpack(">h", raw.receive()[-2:])[0] == 0:
                pending.discard(group)
    return time.time() - broker.started


def load_times(log_path):
    with open(log_path) as log:
        text = log.read()
    times = [int(ms) for ms in re.findall(r"elapsed_ms=(\d+)", text)]
    records = [int(n) for n in re.findall(r"records=(\d+)", text)]
    return max(times, default=0), sum(records)


def main():
    assert os.path.exists(BINARY), "cargo build --release -p ringlog first"
    broker = Broker()
    try:
        create_topic(broker, "rebalance", 100)
        create_topic(broker, "commits", 4)
        create_topic(broker, "memory", 1)
        for heartbeat_ms in (100, 3000):
            join, leave, joins, leaves = rebalance(broker, heartbeat_ms)
            print(f"rebalance heartbeat.interval.ms={heartbeat_ms}: 10 members join {join*1000:.0f} ms, "
                  f"one leaves {leave*1000:.0f} ms (medians of {RUNS}: "
                  f"join {[round(j*1000) for j in joins]}, leave {[round(l*1000) for l in leaves]})")
        for clients in (1, 8):
            rate, p50, p99 = commits(broker, clients)
            print(f"commits clients={clients}: {rate:.0f} commits/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        base = settled_rss(broker)
        fill_offsets_only(broker, "offsets-only", GROUPS)
        with_offsets = settled_rss(broker)
        fill_with_members(broker, "one-member", GROUPS)
        with_members = settled_rss(broker)
        print(f"memory: base RSS {base/2**20:.1f} MiB; +{GROUPS} offsets-only groups "
              f"{(with_offsets-base)/GROUPS:.0f} B/group; +{GROUPS} one-member groups "
              f"{(with_members-with_offsets)/GROUPS:.0f} B/group")
        broker.stop()
        broker.start()
        # One group per offsets-log partition is enough to see every load.
        sample = [f"one-member-{index}" for index in range(64)]
        ready = ready_after_restart(broker, sample)
        time.sleep(0.5)
        slowest, records = load_times(DATA + ".log")
        print(f"restart: {records} records loaded, slowest partition {slowest} ms, "
              f"groups answer {ready*1000:.0f} ms after the process started")
    finally:
        broker.stop()
        shutil.rmtree(DATA, ignore_errors=True)
        broker.log.close()
        os.remove(DATA + ".log")


if __name__ == "__main__":
    main()
