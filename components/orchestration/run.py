"""Running the DAG: resolve each step's inputs, hand the step to an executor, keep the run manifest.

Executors decide where a step runs (this process, worker processes, a container, a Kubernetes Job) and
end every step with the same Record; everything else — order, paths, manifest, stopping at the first
failure — is here, shared by every runner, which loops over specs without naming a step.
"""
from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Protocol

from components.core.errors import PipelineError
from components.core.interface import OUTPUT, SERVING_DIR, ComponentSpec
from components.core.protocol import Record
from components.orchestration import cache, staging
from components.orchestration.dag import PIPELINE, topological
from components.orchestration.paths import replace_paths
from components.orchestration.run_lock import run_lock
from components.orchestration.state import Run, input_contents, load_or_create_manifest, write_run_info
from components.reports import tensorboard

log = logging.getLogger("pipeline")


def write_experiment(pipeline_root: Path) -> None:
    """TensorBoard's HParams columns for every run of the root; a view, so a failure here stops nothing."""
    try:
        tensorboard.write_experiment(pipeline_root)
    except (OSError, ImportError) as exc:
        log.warning("TensorBoard's HParams experiment not written to %s: %s", pipeline_root, exc)


class Executor(Protocol):
    def __call__(self, spec: ComponentSpec, config: Any, inputs: dict[str, Path | None],
                 outputs: dict[str, Path]) -> Record: ...


def _kept(run: Run, spec: ComponentSpec, record: dict, key: str, output: Path) -> bool:
    """Done in an earlier attempt of this run with the same key, and its files are still what it wrote."""
    if record.get("status") not in ("succeeded", "cached") or record.get("key") != key \
            or (record.get("result") or {}).get("dry_run"):
        return False
    staging.fetch(run.mirror, output)
    problem = cache.intact(output, record["artifacts"]) if record.get("artifacts") is not None else None
    if problem:
        log.warning("── %s ── recomputed: %s", spec.name, problem)
        return False
    log.info("── %s ── done in an earlier attempt with the same inputs and config: kept", spec.name)
    return True


def _reused(run: Run, spec: ComponentSpec, record: dict, key: str, output: Path) -> bool:
    """The same step with the same key in another run of this pipeline root: its outputs are copied. A step
    that writes outside its own directory (push, into the serving directory) always runs."""
    found = not spec.outputs and cache.find(run.run_dir.parent, run.run_id, spec.name, key,
                                            lambda directory: staging.fetch(run.mirror, directory))
    if not found:
        return False
    source, earlier = found[0], run.local(found[1])
    cache.copy_outputs(source, output)
    staging.stage_out(run.mirror, spec, {OUTPUT: output}, {}, succeeded=True)
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
    intact (components/orchestration/cache.py); an interrupted train step resumes from its checkpoint.
    """
    with run_lock(run.run_dir), staging.store_lock(run.mirror, run.run_dir):
        if run.mirror is not None:
            staging.prepare(run.mirror, run.run_dir, run.params.get(SERVING_DIR.name), run.config.push.model_name)
        run.manifest = run.manifest or load_or_create_manifest(run, runner)
        write_run_info(run)
        write_experiment(run.run_dir.parent)
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
    if _kept(run, spec, record, key, outputs[OUTPUT]) or (use_cache and _reused(run, spec, record, key,
                                                                                outputs[OUTPUT])):
        run.save_manifest()
        return
    log.info("── %s ──", spec.name)
    record.clear()
    record.update(status="running", key=key, inputs={k: str(v) if v else None for k, v in inputs.items()},
                  outputs={k: str(v) for k, v in outputs.items()})
    run.save_manifest()
    remote = getattr(execute, "stages_outputs", False)  # pods on the store publish what they wrote themselves
    before = {} if remote else staging.snapshot(run.mirror, spec, outputs)
    outcome = _execute(run, record, execute, spec, config, inputs, outputs)
    try:
        if remote:  # what the manifest's digests and the summary read, here
            staging.fetch(run.mirror, outputs[OUTPUT])
        else:
            staging.stage_out(run.mirror, spec, outputs, before, succeeded=outcome.exit_code == 0)
    except PipelineError as exc:  # a step is done only once the store holds what it wrote
        outcome = Record.of_error(exc)
    if outcome.exit_code != 0:
        record.update(status="failed", exit_code=outcome.exit_code, error=outcome.error)
        run.manifest["status"] = "failed"
        run.save_manifest()
        outcome.unwrap()  # raises the domain error of its exit code
    record.update(status="succeeded", result=outcome.result, artifacts=cache.tree_digests(outputs[OUTPUT]))
    run.save_manifest()


def _execute(run: Run, record: dict, execute: Executor, spec: ComponentSpec, config: Any, inputs: dict,
             outputs: dict) -> Record:
    """The executor's record, timed. A domain error the executor itself raises (no engine, no API server) is
    a record like any other; a bug (or Ctrl-C) is recorded as exit 1 (130) and raised as it is."""
    started = time.monotonic()
    try:
        return execute(spec, config, inputs, outputs)
    except PipelineError as exc:
        return Record.of_error(exc)
    except BaseException as exc:
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        record.update(status="failed", exit_code=code, seconds=round(time.monotonic() - started, 3),
                      error="".join(traceback.format_exception_only(exc)).strip())
        run.manifest["status"] = "failed"
        run.save_manifest()
        raise
    finally:
        record.setdefault("seconds", round(time.monotonic() - started, 3))
