"""The pod's launcher on the object store (`kubernetes.entry --object-store`), as Kubeflow Pipelines v2's.

The pod's /artifacts is an emptyDir that mirrors the store (`s3://bucket/key` is `/artifacts/bucket/key`),
so the step reads and writes paths exactly as on a volume. Before it runs, what it reads is pulled: what
lookups search (other runs' manifests and statistics, the model's versions: the same `staging.prepare` the
host uses), its inputs (a data file, upstream output folders) and its own output folder if an earlier attempt
published one (train resumes from its checkpoint). After it, the chief publishes the output folder and any
new model version with the same `staging.stage_out` the host uses; other workers of a multi-worker step
publish nothing. A failed upload fails the step: its record line comes after the step's own, and the runner
reads the last one.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

from components.core import console, protocol
from components.core.errors import PipelineError
from components.core.interface import OUTPUT, ComponentSpec, Lookup
from components.orchestration import staging
from components.orchestration.paths import ARTIFACTS
from components.storage.mirror import Mirror

log = logging.getLogger("pipeline.kubernetes.entry")


def flag_values(args: Sequence[str], names: list[str]) -> dict[str, Path]:
    """The paths given as `--<name> PATH` in a step's CLI args."""
    flags = {console.flag(name): name for name in names}
    return {flags[a]: Path(v) for a, v in zip(args, list(args[1:]) + [""]) if a in flags and v}


def pull_input(mirror: Mirror, path: Path) -> None:
    """A file or a folder the step reads, if it is on the store (a path baked into the image is not)."""
    if mirror.holds(path) and not mirror.pull_file(path):
        mirror.pull(path)


def is_chief() -> bool:
    """Worker 0 of a multi-worker step (as in MultiWorkerMirroredStrategy), or the only pod."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return config.get("type", "chief") == "chief" or config.get("index", 0) == 0


def prepare(mirror: Mirror, spec: ComponentSpec, args: Sequence[str], lookups_from: tuple | None) -> dict:
    """Pull what the step reads into /artifacts; its outputs (paths), to publish them afterwards."""
    if lookups_from is not None and (spec.outputs or any(isinstance(i.source, Lookup) for i in spec.inputs)):
        staging.prepare(mirror, *lookups_from)  # what lookups search, and a registry's version numbers
    inputs = flag_values(args, [i.name for i in spec.inputs])
    for path in inputs.values():
        pull_input(mirror, path)
    outputs = flag_values(args, [OUTPUT, *(o.name for o in spec.outputs)])
    staging.fetch(mirror, outputs.get(OUTPUT))
    return outputs


def run_step(spec: ComponentSpec, step_main: Callable[[list[str]], int], args: list[str],
             lookups_from: tuple | None, found_args: Callable[[], list[str]], scratch: Path = Path(ARTIFACTS)) -> int:
    """The step between its pulls and its uploads (`found_args`: what lookups find once pulled); the step's
    exit code, or the failed transfer's."""
    mirror = Mirror(scratch)
    try:
        outputs = prepare(mirror, spec, args, lookups_from)
    except PipelineError as exc:
        return transfer_failed(exc)
    before = staging.snapshot(mirror, spec, outputs)
    code = step_main(args + found_args())
    if not is_chief():
        return code
    try:
        staging.stage_out(mirror, spec, outputs, before, succeeded=code == 0)
    except PipelineError as exc:  # the step is done only once the store holds what it wrote
        return transfer_failed(exc)
    return code


def transfer_failed(exc: PipelineError) -> int:
    """A pull or an upload that failed: its record line (the last one the runner reads) and its exit code."""
    protocol.print_record(protocol.Record.of_error(exc))
    log.error("%s", exc.message)
    return exc.exit_code
