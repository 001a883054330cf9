"""The default recipe's cost: `pipeline.py` on the bank data with today's defaults and with the earlier default
(the `mlp` family), run back to back in fresh processes, alternating, so load falls on both alike.

    .venv/bin/python bench/defaults.py --runs 3
    .venv/bin/python bench/defaults.py --runs 3 --python /path/to/fresh-clone/.venv/bin/python

`--python` runs pipeline.py with another environment's interpreter: a fresh clone's `make setup` (or `make run`)
environment holds the runtime lock only, as the images do. The dev environment adds scikit-learn (for the
benchmarks), which LightGBM imports whenever it is installed: ~0.9 s more in the train step here.

Prints each step's seconds (the run's manifest) and the wall time of the whole command, median over the runs, and
the train step's ratio; writes bench/results/defaults.json.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, machine, write_json  # noqa: E402  (after the path above)
from components import storage  # noqa: E402
from components.orchestration.dag import PIPELINE  # noqa: E402

# The defaults before the wide_deep recipe: the mlp family as it was measured (bench/RESULTS.md, "Quality").
EARLIER = ("train.family=mlp", "train.teacher=", "train.patience=2", "train.reduce_lr_patience=0",
           "train.numeric_bins=0", "train.crosses=month*day,contact*month,month*day/4,month*day/8,month*day/16")
RECIPES = {"defaults (wide_deep + LightGBM teacher)": (), "earlier defaults (mlp)": EARLIER}


def one_run(settings: tuple[str, ...], scratch: Path, index: int, python: str) -> dict:
    root = scratch / f"run-{index}"
    command = [python, "pipeline.py", "--runner=local", "--pipeline-root", str(root / "runs"),
               "--serving-dir", str(root / "serving"), "--run-id", "bench"]
    command += [part for item in settings for part in ("--set", item)]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - started
    manifest = storage.read_json(root / "runs" / "bench" / "manifest.json")
    metrics = storage.read_json(root / "runs" / "bench" / "evaluate" / "metrics.json")["candidate"]
    return {"wall_s": wall, "steps_s": {name: step["seconds"] for name, step in manifest["steps"].items()},
            "accuracy": metrics["accuracy"], "auc": metrics["auc"]}


def table(runs: dict[str, list[dict]]) -> str:
    steps = [spec.name for spec in PIPELINE]
    lines = [f"| recipe (median of {len(next(iter(runs.values())))} runs) | wall | "
             + " | ".join(steps) + " | test accuracy | ROC AUC |", "|---" * (len(steps) + 4) + "|"]
    for name, rows in runs.items():
        cells = [f"{statistics.median(r['steps_s'][s] for r in rows):.1f} s" for s in steps]
        lines.append(f"| {name} | {statistics.median(r['wall_s'] for r in rows):.1f} s | " + " | ".join(cells)
                     + f" | {statistics.median(r['accuracy'] for r in rows):.4f}"
                     + f" | {statistics.median(r['auc'] for r in rows):.4f} |")
    train = [statistics.median(r["steps_s"]["train"] for r in rows) for rows in runs.values()]
    return "\n".join(lines) + f"\n\ntrain step: defaults / earlier = {train[0] / train[1]:.2f}x"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--runs", type=int, default=3, help="runs of each recipe, alternating")
    args.add_argument("--python", default=sys.executable,
                      help="the interpreter that runs pipeline.py (default: this one; see above)")
    args = args.parse_args()
    runs = {name: [] for name in RECIPES}
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.runs):
            for number, (name, settings) in enumerate(RECIPES.items()):
                runs[name].append(one_run(settings, Path(scratch), 2 * index + number, args.python))
                print(f"{name}: {runs[name][-1]['wall_s']:.1f} s", flush=True)
    print(table(runs))
    sklearn = subprocess.run([args.python, "-c", "import importlib.util as u; print(bool(u.find_spec('sklearn')))"],
                             capture_output=True, text=True, check=True).stdout.strip() == "True"
    path = write_json("defaults.json", {"machine": machine(), "python": args.python,
                                        "scikit_learn_installed": sklearn, "runs": runs})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
