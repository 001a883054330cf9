"""Reading TensorBoard event files back, and serving them with the real `tensorboard`, for the tests."""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def tensorboard_server(logdir: Path) -> Iterator[str]:
    """The venv's `tensorboard` over `logdir` on a free loopback port; yields its plugin data URL."""
    port = free_port()
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "tensorboard"), "--logdir", str(logdir), "--host",
                               "127.0.0.1", "--port", str(port), "--load_fast", "false", "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/data/plugin"
    finally:
        server.terminate()
        server.wait(timeout=30)


def tags_by_run(logdir: Path) -> dict[str, set[str]]:
    """{run directory relative to logdir: set of summary tags written there}."""
    import tensorflow as tf

    found: dict[str, set[str]] = {}
    for events in Path(logdir).rglob("events.out.tfevents.*"):
        run = str(events.parent.relative_to(logdir))
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            found.setdefault(run, set()).update(v.tag for v in event.summary.value)
            if event.graph_def:
                found[run].add("__graph__")
    return found
