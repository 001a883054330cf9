"""The local runner: each component in this process (default) or in its container (--containers)."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from components.dag import Step
from components.errors import UsageError


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("local runner")
    group.add_argument("--containers", action="store_true",
                       help="run each component in its Docker image instead of in this process")
    from components.runners import docker  # its flags (--image-tag, --gpu) belong to --containers

    docker.add_flags(group)
    group.add_argument("--workers", type=int, default=1, metavar="N",
                       help="train with N worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy); "
                            "default 1")


def in_process(step: Step, config: Any, inputs: dict[str, Path | None], outputs: dict[str, Path]) -> dict:
    component = importlib.import_module(step.module)
    return component.run(config, inputs, outputs)


def with_train_workers(execute: Any, workers: int) -> Any:
    """The train step as `workers` processes (TF_CONFIG each); every other step as `execute` runs it."""
    from components.runners.workers import run_workers

    def execute_step(step: Step, config: Any, inputs: dict, outputs: dict) -> dict:
        if step.name == "train":
            return run_workers(step.module, config, inputs, outputs, workers)
        return execute(step, config, inputs, outputs)

    return execute_step


def executor(args: argparse.Namespace, run) -> Any:
    workers = getattr(args, "workers", 1) or 1
    if workers < 1 or workers > 64:
        raise UsageError(f"--workers {workers} is out of range: use 1 to 64.")
    if getattr(args, "containers", False):
        from components.runners import docker

        return docker.executor(args, run)
    return with_train_workers(in_process, workers) if workers > 1 else in_process
