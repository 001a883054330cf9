"""Silence benchmark: run the pipeline on the bank data behind a pseudo-terminal (as `make run` at a terminal),
timestamp every output line, and print the longest gaps between lines and any line that is not the project's own.

    .venv/bin/python bench/gaps.py                          # pipeline.py --runner=local, fresh root, npz
    .venv/bin/python bench/gaps.py -- --format tfrecord     # extra flags go to pipeline.py

A pseudo-terminal makes the run see a terminal on stderr, so progress lines are on as they are for a person.
The run goes to a temporary pipeline root and serving dir, deleted afterwards.
"""
from __future__ import annotations

import argparse
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.core.native_logs import is_native  # noqa: E402  (after the path above)

# The project's own log lines: "HH:MM:SS LEVEL   name: message".
OWN_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+: ")


def timed_lines(command: list[str], cwd: Path) -> tuple[list[tuple[float, str]], int]:
    """Run `command` with stdout and stderr on a pseudo-terminal; return (seconds since start, line) pairs."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                               env={**os.environ, "TERM": "dumb"})
    os.close(follower)
    lines, pending = [], b""
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is gone
            break
        if not chunk:
            break
        pending += chunk
        *complete, pending = re.split(rb"\r?\n", pending)
        now = time.monotonic() - started
        lines += [(now, line.decode(errors="replace")) for line in complete]
    if pending:
        lines.append((time.monotonic() - started, pending.decode(errors="replace")))
    os.close(leader)
    return lines, process.wait()


def report(lines: list[tuple[float, str]], code: int, top: int) -> float:
    stamps = [0.0] + [t for t, _ in lines]
    gaps = sorted(((stamps[i + 1] - stamps[i], i) for i in range(len(lines))), reverse=True)
    native = [text for _, text in lines if is_native(text.encode())]
    logged = sum(1 for _, text in lines if OWN_LINE.match(text))
    print(f"exit code {code}; {len(lines)} lines in {stamps[-1]:.1f} s: {logged} log lines of ours, "
          f"{len(native)} native (C++) log lines, the rest the run's summary")
    for text in native[:5]:
        print(f"  native: {text[:150]}")
    print("longest gaps (seconds of silence, then the line that ended it):")
    for gap, i in gaps[:top]:
        print(f"  {gap:5.1f} s  before [{lines[i][0]:6.1f} s] {lines[i][1][:120]}")
    return gaps[0][0] if gaps else 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--top", type=int, default=8, help="how many of the longest gaps to list (default 8)")
    p.add_argument("extra", nargs="*", help="flags for pipeline.py (after --)")
    args = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bankpipe-gaps-"))
    try:
        command = [sys.executable, "pipeline.py", "--runner=local", f"--pipeline-root={scratch / 'runs'}",
                   f"--serving-dir={scratch / 'serving'}", *args.extra]
        print("$ " + " ".join(command), flush=True)
        lines, code = timed_lines(command, ROOT)
        longest = report(lines, code, args.top)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"longest gap: {longest:.1f} s")
    return 0 if code in (0, 6) else code


if __name__ == "__main__":
    sys.exit(main())
