#!/usr/bin/env python3
"""Diagnoses one client scenario at the protocol level: runs a driver while
tshark captures loopback, then prints every (API, version) the client sent,
how often, and which requests the broker answered by closing the
connection. Not part of the test run (CI has no tshark); for people
chasing a failure in docs/compatibility.md.

Usage (a broker listening on PORT, e.g. one started by hand):
    apt-get install tshark
    wire.py PORT -- target/python-venv/bin/python server/tests/clients/pykafka_driver.py \\
        '{"scenario": "offsets", "bootstrap": "127.0.0.1:PORT", "topic": "t", "group": "g", "records": 4}'
"PORT" in the driver's arguments is replaced by the port.
"""
import collections
import subprocess
import sys
import tempfile
import time

API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
             9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
             13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
             17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
             21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
             32: "DescribeConfigs", 33: "AlterConfigs", 35: "DescribeLogDirs",
             37: "CreatePartitions", 42: "DeleteGroups", 44: "IncrementalAlterConfigs",
             47: "OffsetDelete", 60: "DescribeCluster"}


def main():
    port, command = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    command = [part.replace("PORT", port) for part in command]
    pcap = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False).name
    capture = subprocess.Popen(["tshark", "-i", "lo", "-f", f"tcp port {port}", "-w", pcap],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)  # tshark needs a moment before it captures
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        lines = done.stderr.strip().splitlines()
        print(f"driver exit {done.returncode}: {lines[-1] if lines else ''}")
    except subprocess.TimeoutExpired:
        print("driver timed out")
    time.sleep(1.5)
    capture.terminate()
    capture.wait()
    fields = subprocess.run(
        ["tshark", "-r", pcap, "-d", f"tcp.port=={port},kafka", "-T", "fields",
         "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags.fin",
         "-e", "kafka.request_key", "-e", "kafka.api_version", "-e", "kafka.correlation_id"],
        capture_output=True, text=True).stdout.splitlines()
    sent = collections.Counter()
    closed_after = collections.Counter()
    last_request = {}
    for row in fields:
        src, dst, fin, key, version, correlation = (row.split("\t") + [""] * 6)[:6]
        if dst == port and key:
            request = (API_NAMES.get(int(key.split(",")[0]), key), version)
            sent[request] += 1
            last_request[src] = request
        elif src == port and correlation:
            last_request.pop(dst, None)  # answered
        elif src == port and fin == "1" and dst in last_request:
            # The broker's FIN after a request it did not answer.
            closed_after[last_request.pop(dst)] += 1
    for (api, version), count in sorted(sent.items()):
        closes = closed_after.get((api, version), 0)
        print(f"{api} v{version}: sent {count}" + (f", broker closed after it {closes}" if closes else ""))


if __name__ == "__main__":
    main()
