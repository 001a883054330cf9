"""Running the DAG: resolve each step's inputs, hand the step to an executor, keep the run manifest.

Executors decide where a step runs (this process, worker processes, a container, a Kubernetes Job) and
end every step with the same cli.Record; everything else — order, paths, manifest, stopping at the first
failure — is here, shared by every runner, which loops over specs without naming a step.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import re
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from components import artifacts, cli, config as config_lib, lookups, storage
from components.dag import PIPELINE, topological
from components.errors import InfraError, PipelineError
from components.spec import DATA, OUTPUT, SERVING_DIR, ComponentSpec, Lookup, Param

log = logging.getLogger("pipeline")


class Executor(Protocol):
    def __call__(self, spec: ComponentSpec, config: Any, inputs: dict[str, Path | None],
                 outputs: dict[str, Path]) -> cli.Record: ...


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
            self._hashes[key] = storage.file_sha256(path)
        return self._hashes[key]

    def output_dir(self, step: str) -> Path:
        return self.run_dir / step

    @property
    def where(self) -> lookups.Where:
        """What lookups search on this machine: the run's own pipeline root and serving directory."""
        serving = self.params.get(SERVING_DIR.name)
        return lookups.Where(self.run_dir.parent, Path(serving) if serving else self.run_dir.parent / "serving",
                             self.run_id, self.config.push.model_name)

    def resolve(self, ref) -> Path | None:
        if isinstance(ref, Param):
            return self.params.get(ref.name)
        if isinstance(ref, Lookup):
            return ref.find(self.where)
        path = self.output_dir(ref.step)
        return path / ref.path if ref.path else path

    def save_manifest(self) -> None:
        storage.write_json(self.run_dir / artifacts.MANIFEST, self.manifest)


def new_manifest(run: Run, runner: str) -> dict:
    data = run.params.get(DATA.name)
    return {"run_id": run.run_id, "runner": runner, "status": "running",
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "config": config_lib.to_dict(run.config),
            "params": {k: str(v) if v is not None else None for k, v in run.params.items()},
            "data_sha256": run.file_hash(data) if data and Path(data).is_file() else None,
            "steps": {spec.name: {"status": "pending"} for spec in PIPELINE}}


def fingerprint(config: Any, inputs: dict[str, Path | None], file_hash: Callable[[Path], str]) -> str:
    """What a step's outputs depend on: its config, its input paths, and the content of input files."""
    files = {name: file_hash(path) for name, path in inputs.items() if path and Path(path).is_file()}
    payload = {"config": dataclasses.asdict(config), "inputs": {k: str(v) for k, v in inputs.items()},
               "files": files}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_or_create_manifest(run: Run, runner: str) -> dict:
    """A run directory that already has a manifest is continued, not started over."""
    path = run.run_dir / artifacts.MANIFEST
    if not path.exists():
        return new_manifest(run, runner)
    manifest = storage.read_json(path)
    manifest.setdefault("attempts", 1)
    manifest["attempts"] += 1
    manifest.update(status="running", runner=runner, config=config_lib.to_dict(run.config))
    log.info("continuing run %s (attempt %d): finished steps with unchanged inputs are kept",
             run.run_id, manifest["attempts"])
    return manifest


def run_steps(run: Run, execute: Executor, runner: str, on_step: Callable[[str, dict], None] | None = None,
              specs: tuple[ComponentSpec, ...] = PIPELINE) -> dict:
    """Run every step in DAG order; stop at the first failure, which is raised after the manifest is saved.

    Steps that succeeded in an earlier attempt of this run, with the same fingerprint and no re-run
    upstream, are skipped; an interrupted train step resumes from its checkpoint.
    """
    run.manifest = run.manifest or load_or_create_manifest(run, runner)
    run.save_manifest()
    rerun: set[str] = set()
    for spec in topological(specs):
        record = run.manifest["steps"].setdefault(spec.name, {"status": "pending"})
        inputs = {i.name: run.resolve(i.source) for i in spec.inputs}
        outputs = {OUTPUT: run.output_dir(spec.name), **{o.name: run.resolve(o.source) for o in spec.outputs}}
        config = spec.config_of(run.config)
        print_ = fingerprint(config, inputs, run.file_hash)
        done = record["status"] == "succeeded" and not (record.get("result") or {}).get("dry_run")
        if done and record.get("fingerprint") == print_ and not spec.upstream & rerun:
            log.info("── %s ── done in an earlier attempt with the same inputs and config: kept", spec.name)
            continue
        rerun.add(spec.name)
        log.info("── %s ──", spec.name)
        record.clear()
        record.update(status="running", fingerprint=print_, inputs={k: str(v) if v else None for k, v in inputs.items()},
                      outputs={k: str(v) for k, v in outputs.items()})
        run.save_manifest()
        outcome = _execute(run, record, execute, spec, config, inputs, outputs)
        if outcome.exit_code != 0:
            record.update(status="failed", exit_code=outcome.exit_code, error=outcome.error)
            run.manifest["status"] = "failed"
            run.save_manifest()
            outcome.unwrap()  # raises the domain error of its exit code
        record.update(status="succeeded", result=outcome.result)
        run.save_manifest()
        if on_step:
            on_step(spec.name, record)
    run.manifest["status"] = "succeeded"
    run.save_manifest()
    return run.manifest


def _execute(run: Run, record: dict, execute: Executor, spec: ComponentSpec, config: Any, inputs: dict,
             outputs: dict) -> cli.Record:
    """The executor's record, timed. A domain error the executor itself raises (no engine, no API server) is
    a record like any other; a bug (or Ctrl-C) is recorded as exit 1 (130) and raised as it is."""
    started = time.monotonic()
    try:
        return execute(spec, config, inputs, outputs)
    except PipelineError as exc:
        return cli.Record.of_error(exc)
    except BaseException as exc:
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        record.update(status="failed", exit_code=code, seconds=round(time.monotonic() - started, 3),
                      error="".join(traceback.format_exception_only(exc)).strip())
        run.manifest["status"] = "failed"
        run.save_manifest()
        raise
    finally:
        record.setdefault("seconds", round(time.monotonic() - started, 3))


def replace_paths(value: Any, pairs: list[tuple[Any, Any]]) -> Any:
    """`value` (a string, or dicts and lists of them) with each path `old` of `pairs` written as `new`, in
    the order given (deepest first where they nest); `/a/run` never matches inside `/a/run-2`."""
    if isinstance(value, dict):
        return {k: replace_paths(v, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_paths(v, pairs) for v in value]
    if not isinstance(value, str):
        return value
    for old, new in pairs:
        value = re.sub(re.escape(str(old)) + r"(?![\w.-])", lambda _: str(new), value)
    return value


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


class Terminated(InfraError):
    """SIGTERM (a CI cancel, `kill`, a pod's own eviction) arrived while a step ran elsewhere."""


@contextlib.contextmanager
def sigterm_raises(message: str) -> Iterator[None]:
    """SIGTERM would end this process without `finally`, leaving a container or Jobs behind: raise
    Terminated (exit 75, retryable) instead, so the executor cleans up on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated(message)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
