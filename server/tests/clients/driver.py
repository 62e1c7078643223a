"""What every Python driver shares: the scenario arguments, the records to
send, and how to report what the client observed (JSON lines on stdout,
read by run.py, which makes every assertion)."""
import json
import sys
import time


class Args:
    def __init__(self, argv=None):
        raw = json.loads((argv or sys.argv)[-1])
        self.scenario = raw["scenario"]
        self.bootstrap = raw["bootstrap"]
        self.topic = raw["topic"]
        self.group = raw["group"]
        self.records = raw["records"]
        self.codec = raw["scenario"] if raw["scenario"] in ("gzip", "snappy", "lz4", "zstd") else None

    def record(self, i):
        """Record i: the same for every client (run.py's expected_record)."""
        return (f"key-{i % 4}".encode(), f"{self.topic}:{i}".encode(),
                [("seq", str(i).encode()), ("client", b"ringlog-matrix")])

    @property
    def half(self):
        return self.records // 2


def text(value):
    if value is None:
        return None
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def emit(ev, **fields):
    print(json.dumps({"ev": ev, **fields}), flush=True)


def produced(partition, offset, key, value, error=None):
    emit("produced", partition=partition, offset=offset, key=text(key), value=text(value),
         error=text(error))


def consumed(partition, offset, key, value, headers=None, phase=None):
    emit("consumed", phase=phase, partition=partition, offset=offset, key=text(key),
         value=text(value), headers=[[k, text(v)] for k, v in (headers or [])])


def committed(partition, offset, phase="a"):
    emit("committed", phase=phase, partition=partition, offset=offset)


def fetched_commit(partition, offset):
    emit("fetched_commit", partition=partition, offset=offset)


def fact(name, value):
    emit("fact", name=name, value=value)


def until(seconds, done, step):
    """Calls step() until done() or `seconds` passed."""
    deadline = time.time() + seconds
    while not done() and time.time() < deadline:
        step()
