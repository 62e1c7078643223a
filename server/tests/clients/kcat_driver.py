"""kcat (Debian's, librdkafka 2.0.2), used as its README shows: -P with -K
key delimiter and -H headers, -C -o beginning -e with -J (JSON envelopes),
-G for a balanced group consumer, -L for metadata. kcat sets headers per
invocation, so each record is its own `kcat -P`."""
import json
import subprocess
import sys

import driver as d

args = d.Args()


def kcat(*options, stdin=None, timeout=20):
    done = subprocess.run(["kcat", "-b", args.bootstrap, "-X", "socket.timeout.ms=8000", *options],
                          input=stdin, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        sys.exit(f"kcat {' '.join(options[:2])}: {lines[-1] if lines else done.returncode}")
    return done.stdout


def produce(records=None):
    for i in records or range(args.records):
        key, value, headers = args.record(i)
        options = ["-P", "-t", args.topic, "-K", "\t", "-X", "message.timeout.ms=10000"]
        for name, header in headers:
            options += ["-H", f"{name}={header.decode()}"]
        if args.codec:
            options += ["-z", args.codec]
        kcat(*options, stdin=f"{key.decode()}\t{value.decode()}\n")
        # kcat -P prints no delivery report: the offset is unknown here.
        d.produced(None, None, key, value)


def envelopes(output, phase=None):
    got = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        pairs = message.get("headers") or []
        headers = [(pairs[n], pairs[n + 1]) for n in range(0, len(pairs), 2)]
        got.append(message)
        d.consumed(message["partition"], message["offset"], message["key"], message["payload"],
                   headers, phase)
    return got


def produce_consume():
    produce()
    envelopes(kcat("-C", "-t", args.topic, "-o", "beginning", "-e", "-J"))


def group_read(count, phase):
    # -G: a balanced consumer of the group; it commits what it consumed when it exits.
    return envelopes(kcat("-G", args.group, "-J", "-c", str(count), "-X", "auto.offset.reset=earliest",
                          args.topic, timeout=30), phase)


def group_resume():
    produce(range(args.half))
    got = group_read(args.half, "a")
    positions = {}
    for message in got:
        positions[message["partition"]] = message["offset"] + 1
    for partition, offset in positions.items():
        d.committed(partition, offset)
    produce(range(args.half, args.records))
    group_read(args.records - args.half, "b")


def metadata():
    produce(range(1))
    listing = json.loads(kcat("-L", "-J", "-t", args.topic))
    (topic,) = [t for t in listing["topics"] if t["topic"] == args.topic]
    d.fact("partitions", len(topic["partitions"]))
    d.fact("brokers", len(listing["brokers"]))


SCENARIOS = {"produce_consume": produce_consume, "gzip": produce_consume, "snappy": produce_consume,
             "lz4": produce_consume, "zstd": produce_consume, "group_resume": group_resume,
             "metadata": metadata}
SCENARIOS[args.scenario]()
