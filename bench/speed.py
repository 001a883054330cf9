"""Speed benchmark: training throughput of our trainer against the reference recipe's plain `model.fit`
on NumPy arrays (same model, data and split, one process), and the end-to-end wall time of
`pipeline.py --runner=local` (per component) against `bench/reference.py`'s.

    .venv/bin/python bench/speed.py                       # seeds 0 1 2, one end-to-end run of each
    .venv/bin/python bench/speed.py --seeds 42 --e2e-runs 3
    .venv/bin/python bench/speed.py --variant old="steps_per_execution=1 cache_rows=0" --no-e2e

Throughput counts training examples per second three ways, from the median epoch after the first (an epoch
runs from its start to the next one's): training steps only; the whole epoch (steps, validation pass, and
every callback's end-of-epoch work: checkpoint, TensorBoard, history); and end to end (rows x epochs / the
whole training call: preprocessing, tracing, first epoch). Both trainers stop early on their own, so test
accuracy is reported beside the speed, and so is the wall time of the whole training call ("fit wall": to
a trained model, however many epochs each needed; "x ref" there is the reference's time over ours).
Writes bench/results/<name>.json and <name>.png and prints tables.
"""
from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common as common
from bench import reference
from bench._common import RESULTS, ROOT, Dataset, machine, mean_std, quiet_tensorflow, write_json
from bench.quality import parse_set
from components.config.overrides import from_dict
from components.config.train import TrainConfig
from components.evaluation.metrics import binary_metrics

DAG = ("validate", "split", "train", "evaluate", "push")


def epoch_timer(batch_marks: bool = False):
    """Seconds from each epoch's start to the next one's (or the end of training), split into the training
    steps, Keras' validation pass and the rest (every callback's end-of-epoch work: checkpoints,
    TensorBoard, history; our trainer's in-memory validation), so both trainers are timed the same way,
    callbacks included. The steps end at Keras' validation pass, or with `batch_marks` at the last batch
    hook (only for our trainer: it calls batch hooks once per 128 steps, the reference once per step)."""
    import tf_keras as keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.phases, self.marks = [], [], {}

        def _lap(self):
            now = time.perf_counter()
            if "begin" in self.marks:
                marks = self.marks
                steps_end = marks.get("test_begin", marks.get("batch_end", now))
                self.seconds.append(now - marks["begin"])
                self.phases.append({"train": steps_end - marks["begin"],
                                    "validation": marks.get("test_end", steps_end) - marks.get("test_begin", steps_end),
                                    "callbacks": now - marks.get("test_end", steps_end)})
            self.marks = {"begin": now}

        def _implements_train_batch_hooks(self):
            return batch_marks

        def on_train_batch_end(self, batch, logs=None):
            self.marks["batch_end"] = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._lap()

        def on_test_begin(self, logs=None):
            self.marks["test_begin"] = time.perf_counter()

        def on_test_end(self, logs=None):
            self.marks["test_end"] = time.perf_counter()

        def on_train_end(self, logs=None):
            self._lap()

    return EpochTimer()


def warm_up() -> None:
    """One tiny fit first, so TensorFlow's one-off process start-up is charged to neither trainer."""
    import numpy as np

    model = reference.build_model(4, 0)
    model.fit(np.zeros((200, 4), np.float32), np.zeros(200), epochs=2, verbose=0)


def throughput(rows: int, timer, total: float, accuracy: float) -> dict:
    epoch_seconds, later = timer.seconds, timer.phases[1:] or timer.phases
    steady = statistics.median(epoch_seconds[1:] or epoch_seconds)
    phases = {k: statistics.median(p[k] for p in later) for k in ("train", "validation", "callbacks")}
    return {"epochs": len(epoch_seconds), "first_epoch_s": round(epoch_seconds[0], 3),
            "steady_phases_s": phases, "train_steps_examples_per_s": rows / phases["train"],
            "steady_epoch_s": round(steady, 4), "steady_examples_per_s": rows / steady,
            "train_call_s": round(total, 2), "end_to_end_examples_per_s": rows * len(epoch_seconds) / total,
            "test_accuracy": accuracy}


def time_reference(dataset: Dataset, seed: int) -> dict:
    started = time.perf_counter()
    data = reference.prepare(dataset, dataset.indices(seed))
    model = reference.build_model(data["train"][0].shape[1], seed)
    timer = epoch_timer()
    reference.fit(model, data, callbacks=[timer])
    total = time.perf_counter() - started
    accuracy = binary_metrics(*reference.test_scores(model, data))["accuracy"]
    return throughput(len(data["train"][1]), timer, total, accuracy)


def time_pipeline(dataset: Dataset, seed: int, overrides: dict, scratch: Path) -> dict:
    """fit_model exactly as the train component runs it: TensorBoard (histograms, graph),
    BackupAndRestore, history.json; the split files already written."""
    import tensorflow as tf

    from components.training import loop

    split_dir = dataset.write_split(seed, scratch / f"split-{seed}")
    work = Path(tempfile.mkdtemp(dir=scratch))
    config = from_dict(TrainConfig, {"seed": seed, **overrides})
    started = time.perf_counter()
    timer = epoch_timer(batch_marks=True)
    signature = loop.fit_model(config, split_dir, work, tf.distribute.get_strategy(),
                               extra_callbacks=[timer]).signature
    total = time.perf_counter() - started
    test = dataset.indices(seed)["test"]
    scores = signature(**{n: tf.constant(dataset.columns[n][test]) for n in dataset.spec.columns})
    accuracy = binary_metrics(dataset.labels[test], scores["positive_probability"].numpy())["accuracy"]
    return throughput(len(dataset.indices(seed)["train"]), timer, total, accuracy)


def end_to_end(scratch: Path, run: int, data: Path, label: str) -> dict:
    """Wall time of each command in a fresh process (Python start and TensorFlow import included)."""
    from components import storage

    root = scratch / f"e2e-{run}"
    command = [sys.executable, "pipeline.py", "--runner=local", "--pipeline-root", str(root / "runs"),
               "--serving-dir", str(root / "serving"), "--run-id", "bench", "--data", str(data), "--label", label]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    pipeline_s = time.perf_counter() - started
    manifest = storage.read_json(root / "runs" / "bench" / "manifest.json")
    started = time.perf_counter()
    subprocess.run([sys.executable, "bench/reference.py", "--data", str(data), "--label", label], cwd=ROOT,
                   check=True, capture_output=True)
    reference_s = time.perf_counter() - started
    metrics = storage.read_json(root / "runs" / "bench" / "evaluate" / "metrics.json")["candidate"]
    return {"pipeline_s": pipeline_s, "reference_s": reference_s,
            "steps_s": {name: step["seconds"] for name, step in manifest["steps"].items()},
            "pipeline_test_accuracy": metrics["accuracy"]}


def summarise_throughput(rows: dict[str, list[dict]]) -> dict:
    out = {}
    for name, runs in rows.items():
        out[name] = {key: mean_std([r[key] for r in runs])[0] for key in
                     ("steady_examples_per_s", "end_to_end_examples_per_s", "first_epoch_s", "steady_epoch_s",
                      "epochs", "test_accuracy", "train_call_s", "train_steps_examples_per_s")}
        out[name]["steady_phases_s"] = {k: mean_std([r["steady_phases_s"][k] for r in runs])[0]
                                        for k in ("train", "validation", "callbacks")}
        out[name]["test_accuracy_std"] = mean_std([r["test_accuracy"] for r in runs])[1]
    base = out["reference"]
    for values in out.values():
        values["steady_ratio"] = values["steady_examples_per_s"] / base["steady_examples_per_s"]
        values["end_to_end_ratio"] = values["end_to_end_examples_per_s"] / base["end_to_end_examples_per_s"]
        values["train_steps_ratio"] = values["train_steps_examples_per_s"] / base["train_steps_examples_per_s"]
        values["train_call_speedup"] = base["train_call_s"] / values["train_call_s"]
    return out


def throughput_table(summary: dict) -> str:
    lines = [f"{'trainer':<12} {'steps ex/s':>11} {'x ref':>6} {'epoch ex/s':>11} {'x ref':>6} "
             f"{'end-to-end':>11} {'x ref':>6} {'1st epoch':>9} {'epoch = steps + val + callbacks':>34} "
             f"{'epochs':>6} {'fit wall':>8} {'x ref':>6} {'test acc':>8}"]
    for name, s in summary.items():
        p = s["steady_phases_s"]
        lines.append(f"{name:<12} {s['train_steps_examples_per_s']:>11,.0f} {s['train_steps_ratio']:>6.2f} "
                     f"{s['steady_examples_per_s']:>11,.0f} {s['steady_ratio']:>6.2f} "
                     f"{s['end_to_end_examples_per_s']:>11,.0f} {s['end_to_end_ratio']:>6.2f} "
                     f"{s['first_epoch_s']:>8.2f}s {s['steady_epoch_s']:>7.3f}s = {p['train']:.3f} + "
                     f"{p['validation']:.3f} + {p['callbacks']:.3f} {s['epochs']:>6.1f} {s['train_call_s']:>7.2f}s "
                     f"{s['train_call_speedup']:>6.2f} {s['test_accuracy']:>8.4f}")
    return "\n".join(lines)


def e2e_table(runs: list[dict]) -> str:
    pipeline_s, reference_s = (statistics.median(r[k] for r in runs) for k in ("pipeline_s", "reference_s"))
    steps = {name: statistics.median(r["steps_s"][name] for r in runs) for name in DAG if name in runs[0]["steps_s"]}
    lines = [f"pipeline.py --runner=local  {pipeline_s:6.1f}s  (" +
             ", ".join(f"{n} {s:.1f}s" for n, s in steps.items()) + ")",
             f"bench/reference.py          {reference_s:6.1f}s",
             f"ratio pipeline / reference  {pipeline_s / reference_s:6.2f}x   (median of {len(runs)} run(s))"]
    return "\n".join(lines)


def plot(summary: dict, e2e: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if e2e else 1, figsize=(10 if e2e else 5, 4.2), squeeze=False)
    ax = axes[0][0]
    names = list(summary)
    bars = (("train_steps_examples_per_s", "training steps"), ("steady_examples_per_s", "whole epoch"),
            ("end_to_end_examples_per_s", "end to end"))
    for j, (key, label) in enumerate(bars):
        ax.bar([i + (j - 1) * 0.27 for i in range(len(names))], [summary[n][key] for n in names], 0.27, label=label)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel("training examples / s")
    ax.axhline(3 * summary["reference"]["steady_examples_per_s"], linestyle=":", color="red",
               label="3x the reference's whole epoch")
    ax.legend(fontsize=7)
    ax.set_title("training throughput (median epoch from the 2nd on)", fontsize=9)
    if e2e:
        ax = axes[0][1]
        steps = {n: statistics.median(r["steps_s"][n] for r in e2e) for n in DAG if n in e2e[0]["steps_s"]}
        left = 0.0
        for name, seconds in steps.items():
            ax.barh(0, seconds, left=left, label=name)
            left += seconds
        ax.barh(0, statistics.median(r["pipeline_s"] for r in e2e) - left, left=left, color="lightgrey",
                label="start-up, imports, summary")
        ax.barh(1, statistics.median(r["reference_s"] for r in e2e), color="grey")
        ax.set_yticks([0, 1], ["pipeline steps", "reference.py"], fontsize=8)
        ax.set_xlabel("wall time (s)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
        ax.set_title("end to end", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_variants(items: list[str]) -> dict[str, dict]:
    return {name: parse_set(spec.split()) for name, _, spec in (i.partition("=") for i in items)}


def main(argv=None) -> int:
    parser = common.parser(__doc__, seeds=[0, 1, 2])
    parser.add_argument("--variant", action="append", default=[], metavar='NAME="KEY=VALUE ..."',
                        help="also time our trainer with these TrainConfig overrides (repeatable)")
    parser.add_argument("--e2e-runs", type=int, default=1, help="end-to-end runs of each command (median)")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end comparison")
    parser.add_argument("--name", default="speed", help="result file name under bench/results/")
    args = parser.parse_args(argv)
    quiet_tensorflow()
    dataset, variants = Dataset(args.data, args.label), {"pipeline": {}, **parse_variants(args.variant)}
    rows: dict[str, list[dict]] = {"reference": [], **{name: [] for name in variants}}
    warm_up()
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as scratch:
        for seed in args.seeds:  # interleaved, so load from other processes hits every trainer alike
            rows["reference"].append(time_reference(dataset, seed))
            for name, overrides in variants.items():
                rows[name].append(time_pipeline(dataset, seed, overrides, Path(scratch)))
            print(f"seed {seed}: " + ", ".join(f"{n} {r[-1]['steady_examples_per_s']:,.0f} ex/s "
                                               f"acc {r[-1]['test_accuracy']:.4f}" for n, r in rows.items()),
                  flush=True)
        summary = summarise_throughput(rows)
        print(throughput_table(summary))
        e2e = [] if args.no_e2e else [end_to_end(Path(scratch), i, args.data, args.label)
                                     for i in range(args.e2e_runs)]
    if e2e:
        print(e2e_table(e2e))
    command = shlex.join(["bench/speed.py", *(argv if argv is not None else sys.argv[1:])])
    write_json(f"{args.name}.json", {"command": command.strip(), "seeds": args.seeds, "variants": variants,
                                     "machine": machine(), "throughput": summary, "throughput_runs": rows,
                                     "end_to_end": e2e})
    plot(summary, e2e, RESULTS / f"{args.name}.png")
    print(f"wrote {RESULTS / (args.name + '.json')} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
