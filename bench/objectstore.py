"""The same run on a local disk (or the cluster's volume) and on the object store: wall time per step and
bytes moved.

    source .cache/objectstore/env && .venv/bin/python -m bench.objectstore --epochs 10
    source .cache/objectstore/env && .venv/bin/python -m bench.objectstore --runner kubernetes   # make cluster

Both runs use --no-cache (every step computes) and their own serving directory, so the push is a first
version in both. The store's bytes are what the run logs it moved: with runner=local, each step's upload
(components/orchestration/staging.py); with runner=kubernetes the pods move the step's bytes and the
submitting machine only what it fetches for the manifest and ./runs/<id>/.
Results: bench/results/objectstore-<runner>.json.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench._common import machine, write_json

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("validate", "split", "train", "evaluate", "push")
# a 2-core node holds the steps' pods with these requests (as the cluster tests run them)
CLUSTER = ["--runner=kubernetes", "--kubeconfig", str(ROOT / ".cache" / "cluster" / "kubeconfig"),
           "--cpu-request", "250m", "--memory-request", "512Mi", "--poll-seconds", "1"]


def run(flags: list[str], cwd: Path) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "pipeline.py"), *flags], cwd=cwd, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"pipeline failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.monotonic() - started, done.stderr


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", default="10")
    p.add_argument("--runner", choices=("local", "kubernetes"), default="local",
                   help="in process (default), or Jobs on the local cluster (`make cluster`)")
    args = p.parse_args()
    here, suffix = Path(tempfile.mkdtemp(prefix="bench-s3-")), uuid.uuid4().hex[:8]
    bucket = f"bench-{suffix}"
    common = ["--no-cache", "--epochs", args.epochs, *(CLUSTER if args.runner == "kubernetes" else [])]
    disk_id, store_id = f"disk-{suffix}", f"store-{suffix}"  # Jobs outlive a run: ids are unique
    local_wall, _ = run([*common, "--pipeline-root", str(here / "runs"), "--serving-dir", str(here / "serving"),
                         "--run-id", disk_id, "--set", f"push.model_name=disk_{suffix}"], here)
    store_wall, log = run([*common, "--pipeline-root", f"s3://{bucket}/runs", "--serving-dir",
                           f"s3://{bucket}/serving", "--run-id", store_id], here)
    disk = json.loads((here / "runs" / disk_id / "manifest.json").read_text())["steps"]
    store = json.loads((here / "runs" / store_id / "manifest.json").read_text())["steps"]
    pattern = r"── (\w+) ── ([\d.]+) MB uploaded to \S+ in ([\d.]+) s"
    uploaded = {step: (mb, seconds) for step, mb, seconds in re.findall(pattern, log)}
    total = re.search(r"object store: ([\d.]+) MB uploaded, ([\d.]+) MB downloaded", log)
    rows = [{"step": s, "disk_s": disk[s]["seconds"], "store_s": store[s]["seconds"],
             "upload": uploaded.get(s, ("0", "-"))} for s in STEPS]
    print(f"runner={args.runner}\n| step | volume or disk | object store: step | its upload (kubernetes: the pod's) |"
          f"\n|---|---|---|---|")
    for r in rows:
        mb, seconds = r["upload"]
        print(f"| {r['step']} | {r['disk_s']:.1f} s | {r['store_s']:.1f} s | "
              f"{mb + ' MB in ' + seconds + ' s' if seconds != '-' else mb} |")
    print(f"| whole run (wall, process start to exit) | {local_wall:.1f} s | {store_wall:.1f} s | "
          f"{total.group(1)} MB up, {total.group(2)} MB down |")
    write_json(f"objectstore-{args.runner}.json", {"machine": machine(), "epochs": args.epochs, "steps": rows,
                                               "wall_s": {"disk": local_wall, "store": store_wall},
                                               "this_machine_mb": {"up": float(total.group(1)),
                                                                   "down": float(total.group(2))}})


if __name__ == "__main__":
    main()
