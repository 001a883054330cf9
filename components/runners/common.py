"""Running the DAG: resolve each step's inputs, hand the step to an executor, keep the run manifest.

Executors decide where a step runs (this process, a container, a Kubernetes Job); everything else —
order, paths, manifest, stopping at the first failure — is here, shared by every runner.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Protocol

from components import config as config_lib, io
from components.dag import PIPELINE, Param, Step, StepOutput, topological
from components.errors import PipelineError

log = logging.getLogger("pipeline")
MANIFEST = "manifest.json"


class Executor(Protocol):
    def __call__(self, step: Step, config: Any, inputs: dict[str, Path | None],
                 outputs: dict[str, Path]) -> dict: ...


@dataclasses.dataclass
class Run:
    run_id: str
    run_dir: Path
    config: config_lib.PipelineConfig
    params: dict[str, Path | None]
    manifest: dict = dataclasses.field(default_factory=dict)
    _hashes: dict = dataclasses.field(default_factory=dict, repr=False)

    def file_hash(self, path: Path) -> str:
        """SHA-256 of an input file, read once per run (the data file feeds several steps)."""
        key = str(path)
        if key not in self._hashes:
            self._hashes[key] = io.file_sha256(path)
        return self._hashes[key]

    def output_dir(self, step: str) -> Path:
        return self.run_dir / step

    def resolve(self, ref: Param | StepOutput) -> Path | None:
        if isinstance(ref, Param):
            return self.params.get(ref.name)
        path = self.output_dir(ref.step)
        return path / ref.path if ref.path else path

    def save_manifest(self) -> None:
        io.write_json(self.run_dir / MANIFEST, self.manifest)


def new_manifest(run: Run, runner: str) -> dict:
    data = run.params.get("data")
    return {"run_id": run.run_id, "runner": runner, "status": "running",
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "config": config_lib.to_dict(run.config),
            "params": {k: str(v) if v is not None else None for k, v in run.params.items()},
            "data_sha256": run.file_hash(data) if data and Path(data).is_file() else None,
            "steps": {step.name: {"status": "pending"} for step in PIPELINE}}


def fingerprint(config: Any, inputs: dict[str, Path | None], file_hash: Callable[[Path], str]) -> str:
    """What a step's outputs depend on: its config, its input paths, and the content of input files."""
    files = {name: file_hash(path) for name, path in inputs.items() if path and Path(path).is_file()}
    payload = {"config": dataclasses.asdict(config), "inputs": {k: str(v) for k, v in inputs.items()},
               "files": files}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_or_create_manifest(run: Run, runner: str) -> dict:
    """A run directory that already has a manifest is continued, not started over."""
    path = run.run_dir / MANIFEST
    if not path.exists():
        return new_manifest(run, runner)
    manifest = io.read_json(path)
    manifest.setdefault("attempts", 1)
    manifest["attempts"] += 1
    manifest.update(status="running", runner=runner, config=config_lib.to_dict(run.config))
    log.info("continuing run %s (attempt %d): finished steps with unchanged inputs are kept",
             run.run_id, manifest["attempts"])
    return manifest


def run_steps(run: Run, execute: Executor, runner: str, on_step: Callable[[str, dict], None] | None = None,
              steps: tuple[Step, ...] = PIPELINE) -> dict:
    """Run every step in DAG order; stop at the first failure, which is re-raised after the manifest is saved.

    Steps that succeeded in an earlier attempt of this run, with the same fingerprint and no re-run
    upstream, are skipped; an interrupted train step resumes from its checkpoint.
    """
    run.manifest = run.manifest or load_or_create_manifest(run, runner)
    run.save_manifest()
    rerun: set[str] = set()
    for step in topological(steps):
        record = run.manifest["steps"].setdefault(step.name, {"status": "pending"})
        inputs = {name: run.resolve(ref) for name, ref in step.inputs.items()}
        outputs = {"output": run.output_dir(step.name)}
        outputs.update({name: run.resolve(ref) for name, ref in step.extra_outputs.items()})
        config = getattr(run.config, step.name)
        print_ = fingerprint(config, inputs, run.file_hash)
        done = record["status"] == "succeeded" and not (record.get("result") or {}).get("dry_run")
        if done and record.get("fingerprint") == print_ and not step.upstream & rerun:
            log.info("── %s ── done in an earlier attempt with the same inputs and config: kept", step.name)
            continue
        rerun.add(step.name)
        log.info("── %s ──", step.name)
        record.clear()
        record.update(status="running", fingerprint=print_, outputs={k: str(v) for k, v in outputs.items()})
        run.save_manifest()
        started = time.monotonic()
        try:
            result = execute(step, config, inputs, outputs)
        except BaseException as exc:
            failed = isinstance(exc, PipelineError)
            record.update(status="failed", seconds=round(time.monotonic() - started, 3),
                          exit_code=exc.exit_code if failed else 1,
                          error=exc.message if failed else "".join(traceback.format_exception_only(exc)).strip())
            run.manifest["status"] = "failed"
            run.save_manifest()
            raise
        record.update(status="succeeded", seconds=round(time.monotonic() - started, 3), result=result)
        run.save_manifest()
        if on_step:
            on_step(step.name, record)
    run.manifest["status"] = "succeeded"
    run.save_manifest()
    return run.manifest


def previous_statistics(pipeline_root: Path, run_id: str) -> Path | None:
    """The statistics of the newest earlier run whose validate step succeeded, for drift reports."""
    candidates = []
    for manifest_path in Path(pipeline_root).glob(f"*/{MANIFEST}"):
        if manifest_path.parent.name == run_id:
            continue
        try:
            manifest = io.read_json(manifest_path)
        except PipelineError:
            continue  # a damaged manifest of another run must not stop this one
        stats = manifest_path.parent / "validate" / "stats.pb"
        if manifest.get("steps", {}).get("validate", {}).get("status") == "succeeded" and stats.is_file():
            candidates.append((manifest.get("created", ""), stats))
    return max(candidates)[1] if candidates else None


def cli_args(config: Any, inputs: dict[str, Path | None], outputs: dict[str, Path]) -> list[str]:
    """The component CLI's arguments for one step: its paths, then every config value (fully resolved).

    Runners that start a component elsewhere (a process, a container, a pod) use this, so the CLI there
    gets exactly the config the in-process runner would pass to `run`.
    """
    args: list[str] = []
    for name, path in {**inputs, **outputs}.items():
        if path is not None:
            args += [f"--{name.replace('_', '-')}", str(path)]
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        args += [f"--{field.name.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value)]
    return args
