"""What a component pod runs: `python -m components.runners.k8s_entry [options] components.<name> ARGS...`.

Before the component: a multi-worker train pod derives TF_CONFIG from its completion index (Indexed Job:
JOB_COMPLETION_INDEX, pod hostnames `<job>-<index>.<service>`); evaluate and validate find the deployed
model and the previous run's statistics on the artifacts volume. After it: the component's result.json
is printed as one marked line, which the runner reads from the pod log as the step's result.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Sequence

RESULT_MARKER = "BANKPIPE_RESULT "
log = logging.getLogger("pipeline.k8s_entry")


def tf_config(index: int, workers: int, job: str, service: str, port: int) -> dict:
    """The cluster every worker sees (same order everywhere) and this pod's task; worker 0 is the chief."""
    if not 0 <= index < workers:
        raise ValueError(f"JOB_COMPLETION_INDEX {index} is outside 0..{workers - 1}")
    hosts = [f"{job}-{i}.{service}:{port}" for i in range(workers)]
    return {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}


def previous_statistics(runs_dir: Path, own_run: Path) -> Path | None:
    """The newest other run's statistics whose validate step succeeded (it wrote result.json)."""
    candidates = [p for p in runs_dir.glob("*/validate/stats.pb")
                  if p.parents[1] != own_run and (p.parent / "result.json").is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def _option(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def component_args(opts: argparse.Namespace, args: list[str]) -> list[str]:
    """The component's args plus what only the cluster knows: the deployed model, the previous stats."""
    args = list(args)
    if opts.baseline_from:
        from components import push

        root = Path(opts.baseline_from)
        baseline = push.latest_version(root.parent, root.name) if root.parent.is_dir() else None
        if baseline is not None:
            args += ["--baseline-model", str(baseline)]
    if opts.previous_stats_from and _option(args, "--output"):
        stats = previous_statistics(Path(opts.previous_stats_from), Path(_option(args, "--output")).parent)
        if stats is not None:
            args += ["--previous-statistics", str(stats)]
    return args


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, str, list[str]]:
    argv = list(argv)
    split = next((i for i, a in enumerate(argv) if a.startswith("components.")), None)
    if split is None:
        raise SystemExit("usage: python -m components.runners.k8s_entry [options] components.<name> ARGS...")
    p = argparse.ArgumentParser(prog="python -m components.runners.k8s_entry")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--worker-job")
    p.add_argument("--worker-service")
    p.add_argument("--worker-port", type=int, default=2222)
    p.add_argument("--baseline-from", help="<serving dir>/<model>: pass its latest version as --baseline-model")
    p.add_argument("--previous-stats-from", help="runs dir: pass the newest earlier run's stats.pb")
    return p.parse_args(argv[:split]), argv[split], argv[split + 1:]


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opts, module, args = parse(sys.argv[1:] if argv is None else argv)
    if opts.workers > 1 and not os.environ.get("TF_CONFIG"):
        index = int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
        config = tf_config(index, opts.workers, opts.worker_job, opts.worker_service, opts.worker_port)
        os.environ["TF_CONFIG"] = json.dumps(config)
        log.info("TF_CONFIG: worker %d of %d", index, opts.workers)
    started = time.time()
    code = importlib.import_module(module).main(component_args(opts, args))
    output = _option(args, "--output")
    result = Path(output) / "result.json" if output else None
    # Only the chief of a multi-worker run writes result.json; a file older than this attempt is not ours.
    if code == 0 and result is not None and result.is_file() and result.stat().st_mtime >= started - 1:
        sys.stdout.write(RESULT_MARKER + json.dumps(json.loads(result.read_text()), separators=(",", ":")) + "\n")
        sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
