"""The local runner: each component in this process (default) or in its container (--containers)."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from components.dag import Step


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("local runner")
    group.add_argument("--containers", action="store_true",
                       help="run each component in its Docker image instead of in this process")
    from components.runners import docker  # its flags (--image-tag, --gpu) belong to --containers

    docker.add_flags(group)


def in_process(step: Step, config: Any, inputs: dict[str, Path | None], outputs: dict[str, Path]) -> dict:
    component = importlib.import_module(step.module)
    return component.run(config, inputs, outputs)


def executor(args: argparse.Namespace, run) -> Any:
    if getattr(args, "containers", False):
        from components.runners import docker

        return docker.executor(args, run)
    return in_process
