"""What a step's pod runs: `python -m components.runners.kubernetes.entry [options] components.steps.<name> ARGS...`.

Before the step: a multi-worker pod derives TF_CONFIG from its completion index (Indexed Job:
JOB_COMPLETION_INDEX, pod hostnames `<job>-<index>.<service>`), and the step's lookup inputs (its spec's
`Lookup`s: the deployed model, the previous run's statistics) are found on the artifacts volume by the same
functions the host uses (components/registry/lookups.py). The step's CLI then prints its record line (protocol.Record),
which the runner reads from the pod log.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from components.core import console, filenames, protocol
from components.core.interface import RUN_INFO, ComponentSpec, Lookup
from components.registry import lookups
from components.runners.kubernetes import pod_store
from components.training import strategy

log = logging.getLogger("pipeline.kubernetes.entry")


def tf_config(index: int, workers: int, job: str, service: str, port: int) -> dict:
    """The cluster every worker sees (same order everywhere) and this pod's task; worker 0 is the chief."""
    return strategy.tf_config([f"{job}-{i}.{service}:{port}" for i in range(workers)], index)


def lookup_args(spec: ComponentSpec, where: lookups.Where) -> list[str]:
    """`--<input> PATH` for each lookup input of the step that finds something on the volume."""
    args = []
    for item in spec.inputs:
        if isinstance(item.source, Lookup):
            found = item.source.find(where)
            if found is not None:
                args += [console.flag(item.name), str(found)]
    return args


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, str, list[str]]:
    argv = list(argv)
    split = next((i for i, a in enumerate(argv) if a.startswith("components.")), None)
    if split is None:
        raise SystemExit("usage: python -m components.runners.kubernetes.entry [options] "
                         "components.steps.<name> ARGS...")
    p = argparse.ArgumentParser(prog="python -m components.runners.kubernetes.entry")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--worker-job")
    p.add_argument("--worker-service")
    p.add_argument("--worker-port", type=int, default=2222)
    p.add_argument("--pipeline-root", help="the runs folder on the volume, where lookups search")
    p.add_argument("--serving-dir", help="the serving folder on the volume, where lookups search")
    p.add_argument("--run-id", help="this run (lookups skip it)")
    p.add_argument("--model-name", help="the served model's name")
    p.add_argument("--run-info-json", help="the run's run.json, as text: written to /tmp for the step's input")
    p.add_argument("--object-store", action="store_true",
                   help="/artifacts mirrors the store: pull the step's inputs before it, publish its outputs after")
    return p.parse_args(argv[:split]), argv[split], argv[split + 1:]


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opts, module, args = parse(sys.argv[1:] if argv is None else argv)
    if opts.workers > 1 and not os.environ.get("TF_CONFIG"):
        index = int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
        config = tf_config(index, opts.workers, opts.worker_job, opts.worker_service, opts.worker_port)
        os.environ["TF_CONFIG"] = json.dumps(config)
        log.info("TF_CONFIG: worker %d of %d", index, opts.workers)
    step = importlib.import_module(module)
    where = lookups.Where(Path(opts.pipeline_root), Path(opts.serving_dir), opts.run_id, opts.model_name) \
        if opts.pipeline_root else None
    if opts.run_info_json:  # the runner's machine has run.json; the pod's volume is read-only here
        path = Path(tempfile.mkdtemp()) / filenames.RUN_INFO
        path.write_text(opts.run_info_json, encoding="utf-8")
        args += [console.flag(RUN_INFO.name), str(path)]
    os.environ[protocol.RECORD_LINE_ENV] = "1"  # the runner reads the step's record from this pod's log
    found = (lambda: lookup_args(step.SPEC, where)) if where else list
    if opts.object_store:
        pulled = (where.pipeline_root / opts.run_id, where.serving_dir, opts.model_name) if where else None
        return pod_store.run_step(step.SPEC, step.main, args, pulled, found)
    return step.main(args + found())


if __name__ == "__main__":
    raise SystemExit(main())
