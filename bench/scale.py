"""Scale: split (TFRecord), validate and one training epoch at 10^5, 10^6 and 10^7 rows.

Each component runs as its own process (as in a container), on synthetic bank data (bench/synth.py);
wall time, rows per second and peak memory (RSS of the process and its children, sampled every 50 ms)
are recorded. Above their thresholds (256 MB by default) split streams the CSV and validate samples it,
so memory must stay flat while time grows linearly.

    python bench/scale.py                       # 1e5 1e6 1e7 rows
    python bench/scale.py --rows 100000 1000000 # a quicker run
    python bench/scale.py --rows 1e6 --beam-pipeline-args "--runner=FlinkRunner --flink_master=localhost:8081 \
        --environment_type=LOOPBACK"            # validate and split on the local Flink cluster (make flink),
                                                # at --parallelism 1 and 2, beside the in-process paths
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from bench.synth import generate  # noqa: E402

RESULTS = HERE / "results"
FLINK_PIDS = ROOT / ".cache" / "flink" / "run"  # flink/flink.sh's pid files: JobManager, TaskManager, job server


WORKER_POOL_PID = 0  # --worker-pool-pid: flink/worker_pool.py, whose SDK worker processes count as the cluster's


def flink_processes() -> list[psutil.Process]:
    found = []
    if WORKER_POOL_PID:
        try:
            pool = psutil.Process(WORKER_POOL_PID)
            found += [pool, *pool.children(recursive=True)]
        except psutil.Error:
            pass
    for pid_file in FLINK_PIDS.glob("*.pid"):
        try:
            found.append(psutil.Process(int(pid_file.read_text().split()[0])))
        except (ValueError, IndexError, psutil.Error):
            pass
    return found


def rss(processes) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(command: list[str], flink: bool = False) -> dict:
    """Run a command; return its wall time and the peak RSS of its process tree (and of the Flink cluster's
    processes, sampled the same way, when `flink`)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_USE_LEGACY_KERAS="1", PYTHONPATH=str(ROOT))
    started, peak, flink_peak = time.monotonic(), 0, 0
    cluster = flink_processes() if flink else []
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    handle = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            peak = max(peak, rss([handle, *handle.children(recursive=True)]))
        except psutil.Error:
            pass
        if flink and WORKER_POOL_PID:  # the pool starts a process per SDK worker while a job runs
            cluster = flink_processes()
        flink_peak = max(flink_peak, rss(cluster))
        time.sleep(0.05)
    stderr = process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    return {"seconds": round(time.monotonic() - started, 2), "peak_rss_mb": round(peak / 2**20),
            **({"flink_peak_rss_mb": round(flink_peak / 2**20)} if flink else {}),
            "notes": [line.split(": ", 1)[-1] for line in stderr.splitlines()
                      if "sample of" in line or "streamed" in line][-1:]}


def run_size(rows: int, work: Path, stream_all: bool, beam_args: str = "", parallelism=(1, 2),
             beam_only: bool = False) -> list[dict]:
    data = work / f"synth-{rows}.csv"
    if not data.exists():
        print(f"generating {rows} rows ...", flush=True)
        generate(data, rows)
    out = work / f"run-{rows}{'-streamed' if stream_all else ''}"
    py = [sys.executable, "-m"]
    # --stream-all: the big-data paths at every size, so times compare like for like.
    force = {"validate": ["--beam-threshold-mb", "0.001"], "split": ["--stream-threshold-mb", "0.001"],
             "train (1 epoch)": ["--cache-rows", "0"]} if stream_all else {}
    steps = {
        "validate": py + ["components.steps.validate", "--data", str(data), "--schema",
                          str(ROOT / "data" / "schema.pbtxt"),
                          "--output", str(out / "validate")],
        "split": py + ["components.steps.split", "--data", str(data), "--schema", str(ROOT / "data" / "schema.pbtxt"),
                       "--format", "tfrecord", "--shards", "8", "--output", str(out / "split")],
        "train (1 epoch)": py + ["components.steps.train", "--split", str(out / "split"), "--output",
                                 str(out / "train"),
                                 "--epochs", "1", "--histogram-freq", "0"],
    }
    if beam_args:  # validate and split in process (as they run by default) and on the Beam runner
        steps.pop("train (1 epoch)")
        env = "EXTERNAL" if "EXTERNAL" in beam_args else "LOOPBACK" if "LOOPBACK" in beam_args else "beam"
        for p in parallelism:
            flags = f"--beam-pipeline-args={beam_args} --parallelism={p}"
            for step in ("validate", "split"):
                steps[f"{step} {env} p={p}"] = [*steps[step][:-2], "--output", str(out / f"{step}-{env}-p{p}"), flags]
        if beam_only:
            del steps["validate"], steps["split"]
    rows_out = []
    for name, command in steps.items():
        result = measure(command + force.get(name, []), flink=" p=" in name)
        result.update(component=name, rows=rows, rows_per_second=round(rows / result["seconds"]),
                      csv_mb=round(data.stat().st_size / 1e6))
        print(f"  {name:<16} {rows:>10,} rows {result['seconds']:>8.1f}s {result['rows_per_second']:>10,} rows/s "
              f"{result['peak_rss_mb']:>6} MB {' '.join(result['notes'])}"
              + (f" (Flink processes {result['flink_peak_rss_mb']} MB)" if "flink_peak_rss_mb" in result else ""),
              flush=True)
        rows_out.append(result)
    return rows_out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for name in dict.fromkeys(r["component"] for r in results):
        mine = [r for r in results if r["component"] == name]
        left.plot([r["rows"] for r in mine], [r["seconds"] for r in mine], marker="o", label=name)
        right.plot([r["rows"] for r in mine], [r["peak_rss_mb"] for r in mine], marker="o", label=name)
    left.set(xscale="log", yscale="log", xlabel="rows", ylabel="wall time (s)", title="Time grows with rows")
    right.set(xscale="log", xlabel="rows", ylabel="peak RSS (MB)", title="Memory stays flat")
    right.axhline(2048, linestyle=":", color="red", label="2 GB target")
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e5, 1e6, 1e7], help="data sizes")
    parser.add_argument("--stream-all", action="store_true",
                        help="use the streaming split, sampled statistics and streamed training input at every "
                             "size (by default they start above 256 MB / 100,000 training rows)")
    parser.add_argument("--name", default="scale", help="result file name under bench/results/")
    parser.add_argument("--beam-pipeline-args", default="",
                        help="also run validate and split as Beam pipelines with these flags (plus --parallelism=N "
                             "for each N of --parallelism), beside the in-process paths; train is skipped")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2], help="Beam parallelisms to measure")
    parser.add_argument("--beam-only", action="store_true", help="skip the in-process paths")
    parser.add_argument("--worker-pool-pid", type=int, default=0,
                        help="pid of flink/worker_pool.py (--environment_type=EXTERNAL): its workers' memory is "
                             "counted with the cluster's")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bankpipe-scale"),
                        help="where synthetic data and runs go (several GB at 10^7 rows)")
    args = parser.parse_args()
    global WORKER_POOL_PID
    WORKER_POOL_PID = args.worker_pool_pid
    print(f"{'component':<18} {'rows':>10}      {'time':>8} {'throughput':>15} {'peak':>8}")
    results = [r for rows in args.rows for r in run_size(int(rows), args.work, args.stream_all,
                                                          args.beam_pipeline_args, args.parallelism, args.beam_only)]
    RESULTS.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
               "platform": platform.platform(), "python": platform.python_version()}
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"machine": machine, "stream_all": args.stream_all,
                                                           "beam_pipeline_args": args.beam_pipeline_args,
                                                           "results": results}, indent=2) + "\n")
    plot(results, RESULTS / f"{args.name}.png")
    print(f"wrote {RESULTS / args.name}.json and .png")


if __name__ == "__main__":
    main()
