"""The local runner: each step in this process (default), as worker processes (a distributed step with
--workers N), or in its container (--containers)."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
from pathlib import Path
from typing import Any

from components.core import progress, protocol
from components.core.errors import PipelineError, UsageError
from components.core.interface import OUTPUT, ComponentSpec
from components.orchestration.paths import MAX_WORKERS
from components.runners import docker
from components.runners.docker import MEMORY_LIMIT, PIDS_LIMIT
from components.runners.workers import run_workers
from components.steps import main


@dataclasses.dataclass(frozen=True)
class LocalOptions:
    workers: int = 1
    containers: bool = False
    image_tag: str | None = None     # None: the project version (an explicit tag only warns on old code)
    gpu: bool = False
    debug: bool = False
    container_memory: str = MEMORY_LIMIT
    container_pids: int = PIDS_LIMIT

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UsageError(f"--workers {self.workers} is out of range: use 1 to {MAX_WORKERS}.")
        if self.workers > 1 and self.containers:  # one container per step; several trainers: kubernetes
            raise UsageError(f"--workers {self.workers} does not combine with --containers: drop one of them "
                             f"(multi-worker training in containers is what --runner=kubernetes does).")


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("local runner")
    group.add_argument("--containers", action="store_true",
                       help="run each component in its Docker image instead of in this process")
    group.add_argument("--gpu", action="store_true",
                       help="with --containers: trainer-image steps in bankpipe-trainer-gpu, with every GPU")
    group.add_argument("--container-memory", default=MEMORY_LIMIT, metavar="SIZE",
                       help=f"with --containers: memory limit of each container, no swap (default: {MEMORY_LIMIT})")
    group.add_argument("--container-pids", type=int, default=PIDS_LIMIT, metavar="N",
                       help=f"with --containers: process/thread limit of each container (default: {PIDS_LIMIT})")


def options_from(args: argparse.Namespace) -> LocalOptions:
    return LocalOptions(workers=args.workers, containers=args.containers, image_tag=args.image_tag, gpu=args.gpu,
                        debug=args.debug, container_memory=args.container_memory, container_pids=args.container_pids)


def in_process(spec: ComponentSpec, config: Any, inputs: dict[str, Path | None],
               outputs: dict[str, Path]) -> protocol.Record:
    """run() here; its outcome recorded in its output directory, as a component CLI records it."""
    component = importlib.import_module(spec.module)
    try:
        with progress.heartbeat(spec.name):
            record = protocol.Record(0, component.run(config, inputs, outputs))
    except PipelineError as exc:
        record = protocol.Record.of_error(exc)
    main.write_record(outputs[OUTPUT], record, spec.result_file)
    return record


def with_workers(execute: Any, workers: int) -> Any:
    """Distributed steps as `workers` processes (TF_CONFIG each); every other step as `execute` runs it."""
    def execute_step(spec: ComponentSpec, config: Any, inputs: dict, outputs: dict) -> protocol.Record:
        if spec.distributed:
            return run_workers(spec.module, config, inputs, outputs, workers)
        return execute(spec, config, inputs, outputs)

    return execute_step


def executor(options: LocalOptions, run) -> Any:
    if options.containers:
        return docker.executor(docker.DockerOptions(options.image_tag, options.gpu, options.debug,
                                                    options.container_memory, options.container_pids), run)
    return with_workers(in_process, options.workers) if options.workers > 1 else in_process
