"""Starts the real ringlog binary for the seed tests (RINGLOG_BIN)."""
import os
import socket
import subprocess
import tempfile
import time

import pytest


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def broker():
    binary = os.environ["RINGLOG_BIN"]
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        process = subprocess.Popen(
            [binary, "serve",
             "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
             "--override", f"log.dirs={data}",
             "--override", "num.shards=2",
             "--override", "num.partitions=2"],
            # Rebalances at debug: a failing group test shows the broker's side.
            env={**os.environ, "RUST_LOG": "warn,ringlog::group=debug"},
        )
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "broker exited"
                assert time.time() < deadline, "broker did not listen"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
        process.terminate()
        assert process.wait(timeout=30) == 0
