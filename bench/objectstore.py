"""The same run on a local disk and on the object store: wall time per step and bytes moved.

    source .cache/objectstore/env && .venv/bin/python -m bench.objectstore --epochs 10

Both runs use --no-cache (every step computes) and their own serving directory, so the push is a first
version in both. The store's bytes are what the run logs it moved (components/orchestration/staging.py).
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

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("validate", "split", "train", "evaluate", "push")


def run(flags: list[str], cwd: Path) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "pipeline.py"), *flags], cwd=cwd, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"pipeline failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.monotonic() - started, done.stderr


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", default="10")
    args = p.parse_args()
    here, bucket = Path(tempfile.mkdtemp(prefix="bench-s3-")), f"bench-{uuid.uuid4().hex[:8]}"
    common = ["--no-cache", "--epochs", args.epochs]
    local_wall, _ = run([*common, "--pipeline-root", str(here / "runs"), "--serving-dir", str(here / "serving"),
                         "--run-id", "disk"], here)
    store_wall, log = run([*common, "--pipeline-root", f"s3://{bucket}/runs", "--serving-dir",
                           f"s3://{bucket}/serving", "--run-id", "store"], here)
    disk = json.loads((here / "runs" / "disk" / "manifest.json").read_text())["steps"]
    store = json.loads((here / "runs" / "store" / "manifest.json").read_text())["steps"]
    pattern = r"── (\w+) ── ([\d.]+) MB uploaded to \S+ in ([\d.]+) s"
    uploaded = {step: (mb, seconds) for step, mb, seconds in re.findall(pattern, log)}
    total = re.search(r"object store: ([\d.]+) MB uploaded, ([\d.]+) MB downloaded", log)
    print("| step | local disk | object store: step | its upload |\n|---|---|---|---|")
    for step in STEPS:
        mb, seconds = uploaded.get(step, ("0", "0"))
        print(f"| {step} | {disk[step]['seconds']:.1f} s | {store[step]['seconds']:.1f} s | {mb} MB in {seconds} s |")
    print(f"| whole run (wall, process start to exit) | {local_wall:.1f} s | {store_wall:.1f} s | "
          f"{total.group(1)} MB up, {total.group(2)} MB down |")


if __name__ == "__main__":
    main()
