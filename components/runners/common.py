"""Running the DAG: resolve each step's inputs, hand the step to an executor, keep the run manifest.

Executors decide where a step runs (this process, worker processes, a container, a Kubernetes Job) and
end every step with the same cli.Record; everything else — order, paths, manifest, stopping at the first
failure — is here, shared by every runner, which loops over specs without naming a step.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from components import artifacts, cache, cli, config as config_lib, lookups, release, storage
from components.dag import PIPELINE, topological
from components.errors import InfraError, PipelineError, UsageError
from components.spec import DATA, OUTPUT, RUN_INFO, SERVING_DIR, ComponentSpec, Lookup, Param, StepOutput

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


def input_contents(run: Run, spec: ComponentSpec, inputs: dict[str, Path | None]) -> dict[str, str | None]:
    """Each input by its content: a file's hash, or an upstream step's recorded files (never its run-specific
    path, so that another run with the same content has the same key)."""
    contents = {}
    for item in spec.inputs:
        source, path = item.source, inputs[item.name]
        upstream = run.manifest["steps"].get(source.step, {}) if isinstance(source, StepOutput) else None
        if upstream and upstream.get("artifacts") is not None:
            contents[item.name] = cache._digest(cache.subtree(upstream["artifacts"], source.path))
        elif upstream:  # not visible from here (a remote volume): its key stands for its content
            contents[item.name] = f"step:{upstream.get('key')}:{source.path}"
        else:
            contents[item.name] = cache.input_content(path, run.file_hash)
    return contents


def load_or_create_manifest(run: Run, runner: str) -> dict:
    """A run directory that already has a manifest is continued, not started over."""
    path = run.run_dir / artifacts.MANIFEST
    if not path.exists():
        return new_manifest(run, runner)
    manifest = storage.read_json(path)
    manifest.setdefault("attempts", 1)
    manifest["attempts"] += 1
    fresh = new_manifest(run, runner)  # this attempt's inputs: the data file may have changed since
    manifest.update({k: fresh[k] for k in ("runner", "config", "params", "data_sha256")}, status="running")
    log.info("continuing run %s (attempt %d): finished steps whose files and inputs are unchanged are kept",
             run.run_id, manifest["attempts"])
    return manifest


def write_run_info(run: Run) -> None:
    """run.json: what made this run, for the versions it pushes (their lineage)."""
    info = {k: run.manifest[k] for k in ("run_id", "created", "data_sha256", "config", "params")}
    info.update(code_digest=release.code_digest(), version=release.version(), commit=release.commit())
    storage.write_json(run.run_dir / artifacts.RUN_INFO, info)
    run.params.setdefault(RUN_INFO.name, run.run_dir / artifacts.RUN_INFO)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One process per run directory: a second one with the same --run-id stops at once."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfraError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}.") from exc
    with open(run_dir / artifacts.RUN_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UsageError(f"run {run_dir.name!r} is running in another process ({holder}): wait for it to "
                             f"finish, or pass another --run-id.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield


def _kept(run: Run, spec: ComponentSpec, record: dict, key: str, output: Path) -> bool:
    """Done in an earlier attempt of this run with the same key, and its files are still what it wrote."""
    if record.get("status") not in ("succeeded", "cached") or record.get("key") != key \
            or (record.get("result") or {}).get("dry_run"):
        return False
    problem = cache.intact(output, record["artifacts"]) if record.get("artifacts") is not None else None
    if problem:
        log.warning("── %s ── recomputed: %s", spec.name, problem)
        return False
    log.info("── %s ── done in an earlier attempt with the same inputs and config: kept", spec.name)
    return True


def _reused(run: Run, spec: ComponentSpec, record: dict, key: str, output: Path) -> bool:
    """The same step with the same key in another run of this pipeline root: its outputs are copied. A step
    that writes outside its own directory (push, into the serving directory) always runs."""
    found = not spec.outputs and cache.find(run.run_dir.parent, run.run_id, spec.name, key)
    if not found:
        return False
    source, earlier = found
    cache.copy_outputs(source, output)
    record.clear()
    record.update(status="cached", key=key, cached_from=source.parent.name, artifacts=earlier["artifacts"],
                  result=replace_paths(earlier.get("result"), [(source.parent, run.run_dir)]), seconds=0.0)
    log.info("── %s ── cached: identical to run %s's (same inputs, config and code)", spec.name, source.parent.name)
    return True


def run_steps(run: Run, execute: Executor, runner: str, on_step: Callable[[str, dict], None] | None = None,
              specs: tuple[ComponentSpec, ...] = PIPELINE, use_cache: bool = True) -> dict:
    """Run every step in DAG order; stop at the first failure, which is raised after the manifest is saved.

    A step is kept from an earlier attempt of this run, or copied from another run of the pipeline root
    (unless `use_cache` is off), when its key — config, code, input content — is the same and its files are
    intact (components/cache.py); an interrupted train step resumes from its checkpoint.
    """
    with run_lock(run.run_dir):
        run.manifest = run.manifest or load_or_create_manifest(run, runner)
        write_run_info(run)
        run.save_manifest()
        for spec in topological(specs):
            _step(run, execute, spec, use_cache)
            if on_step:
                on_step(spec.name, run.manifest["steps"][spec.name])
        run.manifest["status"] = "succeeded"
        run.save_manifest()
    return run.manifest


def _step(run: Run, execute: Executor, spec: ComponentSpec, use_cache: bool) -> None:
    record = run.manifest["steps"].setdefault(spec.name, {"status": "pending"})
    inputs = {i.name: run.resolve(i.source) for i in spec.inputs}
    outputs = {OUTPUT: run.output_dir(spec.name), **{o.name: run.resolve(o.source) for o in spec.outputs}}
    config = spec.config_of(run.config)
    key = cache.step_key(config, input_contents(run, spec, inputs))
    if _kept(run, spec, record, key, outputs[OUTPUT]) or (use_cache and _reused(run, spec, record, key, outputs[OUTPUT])):
        run.save_manifest()
        return
    log.info("── %s ──", spec.name)
    record.clear()
    record.update(status="running", key=key, inputs={k: str(v) if v else None for k, v in inputs.items()},
                  outputs={k: str(v) for k, v in outputs.items()})
    run.save_manifest()
    outcome = _execute(run, record, execute, spec, config, inputs, outputs)
    if outcome.exit_code != 0:
        record.update(status="failed", exit_code=outcome.exit_code, error=outcome.error)
        run.manifest["status"] = "failed"
        run.save_manifest()
        outcome.unwrap()  # raises the domain error of its exit code
    record.update(status="succeeded", result=outcome.result, artifacts=cache.tree_digests(outputs[OUTPUT]))
    run.save_manifest()


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
        flag, text = f"--{field.name.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value)
        # A value that starts with '-' (train.sentinels "-1,999", Beam's "--runner=...") would read as a flag.
        args += [f"{flag}={text}"] if text.startswith("-") else [flag, text]
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
