"""Multi-worker training on one machine: N trainer processes on 127.0.0.1, each with its own TF_CONFIG.

The same code path as Kubernetes pods (the trainer's MultiWorkerMirroredStrategy reads TF_CONFIG), so
multi-worker logic is exercised without a cluster.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import components
from components.core import protocol
from components.orchestration.arguments import cli_args
from components.training import strategy

log = logging.getLogger("pipeline")
REPO = Path(components.__file__).resolve().parent.parent


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(workers: int) -> list[dict]:
    hosts = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    return [strategy.tf_config(hosts, i) for i in range(workers)]


def _stream(name: str, process: subprocess.Popen, lines: list[str]) -> None:
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if not line.startswith(protocol.RECORD_MARKER):
            sys.stderr.write(f"[{name}] {line}")


def start_worker(module: str, args: list[str], tf_config: dict) -> subprocess.Popen:
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), **{protocol.RECORD_LINE_ENV: "1"})
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run_workers(module: str, config: Any, inputs: dict, outputs: dict, workers: int) -> protocol.Record:
    """Start the workers, stream their logs, stop all if one fails. The record is the first failed worker's
    (its exit code with its own message), else the chief's."""
    args = cli_args(config, inputs, outputs)
    processes, logs, threads = [], [[] for _ in range(workers)], []
    for index, tf_config in enumerate(tf_configs(workers)):
        processes.append(start_worker(module, args, tf_config))
        thread = threading.Thread(target=_stream, args=(f"worker {index}", processes[-1], logs[index]), daemon=True)
        thread.start()
        threads.append(thread)
    log.info("%d workers on 127.0.0.1 (worker 0 is the chief)", workers)
    try:
        codes, first_failed = _wait(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for thread in threads:
            thread.join(timeout=10)
    index = 0 if first_failed is None else first_failed
    return protocol.record_from_log(codes[index], logs[index])


def _wait(processes: list[subprocess.Popen]) -> tuple[list[int], int | None]:
    """Wait for all; when one fails, the others would hang in collectives: terminate them. Returns the exit
    codes and the index of the worker that failed first (None when all succeeded)."""
    while True:
        codes = [p.poll() for p in processes]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            for p in processes:
                if p.poll() is None:
                    p.terminate()
            return [p.wait() for p in processes], failed[0]
        if all(code == 0 for code in codes):
            return codes, None
        try:
            processes[[c is None for c in codes].index(True)].wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
