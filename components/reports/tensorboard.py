"""What a run leaves for TensorBoard, so that `tensorboard --logdir <pipeline-root>` compares runs.

Each run is one trial of the HParams dashboard: train writes the session (its hyperparameters, then its
status) at its log root, `<run>/train/logs`, above the `train` and `validation` runs Keras writes there, so
TensorBoard links their scalars to the trial. Test metrics live in evaluate's own logs, `<run>/evaluate/logs`:
the metrics name them by a group relative to the session (`../../evaluate/logs`; TensorBoard joins and
normalises the two paths), which is the pipeline's layout of step folders. Epochs are counted from 1 on every
chart, as in the train log, and evaluate writes the test metrics at the final epoch's step, where the
validation curves end.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from components import storage
from components.config import overrides
from components.core import digests, filenames
from components.evaluation.metrics import TEST_METRICS

# Hyperparameters: what shapes the model and its training. Operational knobs (checkpoint_secs, cache_rows,
# histogram_freq, steps_per_execution, cpu_replicas, strategy, jit_compile) change speed, not the model.
MODEL_HPARAMS = ("hidden_layers", "hidden_units", "learning_rate", "batch_size", "epochs", "patience", "seed",
                 "crosses", "numeric_bins", "signed_log", "ensemble", "weight_decay", "family", "deep_units",
                 "dropout", "date_bins", "reduce_lr_patience", "decision_rule", "temperature_scaling")
EXTRA_HPARAMS = ("global_batch", "replicas", "data")
EVALUATE_GROUP = "../../evaluate/logs"  # from <run>/train/logs to <run>/evaluate/logs
PUSH_GROUP = "../../push/logs"
EXPERIMENT_DIR = "_hparams"  # under the pipeline root: the one declaration of the HParams experiment
# (tag, group relative to the session, name shown in the dashboard). The dashboard shows the first five
# columns by default: the test metrics a person compares runs by, and the gate's verdict, come first.
HEADLINE = ("accuracy", "auc", "f1")
METRICS = (*((f"test/{name}", EVALUATE_GROUP, f"test {name}") for name in HEADLINE),
           ("gate/blessed", PUSH_GROUP, "gate: blessed (1) or refused (0)"),
           ("epoch_loss", "validation", "validation loss"), ("epoch_accuracy", "validation", "validation accuracy"),
           ("epoch_loss", "train", "training loss"), ("best/val_loss", "", "best validation loss"),
           ("best/epoch", "", "best epoch"), ("epochs_run", "", "epochs run"),
           *((f"test/{name}", EVALUATE_GROUP, f"test {name}") for name in TEST_METRICS if name not in HEADLINE))


def hparam_values(config, replicas: int, global_batch: int, data: str) -> dict:
    """The trial's hyperparameters: the model's config values, the global batch and the data's digest."""
    flat = overrides.to_dict(config)
    values = {key: flat[key] for key in MODEL_HPARAMS}
    values.update(global_batch=global_batch, replicas=replicas, data=data)
    return values


def data_digest(split_dir: Path, limit_bytes: int = 1 << 28) -> str:
    """A short SHA-256 over the split's training files (what the model learned from): runs on the same data
    share it. Splits above `limit_bytes` are not read again for this: '' (not available)."""
    files = sorted(p for p in (Path(split_dir) / "train").rglob("*") if p.is_file())
    if not files or sum(p.stat().st_size for p in files) > limit_bytes:
        return ""
    return digests.value_digest(digests.tree_digests(Path(split_dir) / "train"))[:12]


def start_session(logs_dir: Path, values: dict) -> None:
    """This trial's values. The experiment (which columns exist and which show) is declared once for the
    pipeline root by `write_experiment`: TensorBoard reads one declaration, and only across all runs can it
    say which hyperparameters differ."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    # Each run is its own trial, named like the run (<run>/train/logs): hparams' default id (a hash of the
    # values) would fold runs with equal hyperparameters into one trial.
    trial = Path(logs_dir).resolve().parents[1].name
    with tf.summary.create_file_writer(str(logs_dir)).as_default():
        hp.hparams(values, trial_id=trial)


def differing(pipeline_root: Path) -> set[str]:
    """The hyperparameters whose values differ between the runs of the pipeline root (by their run.json)."""
    seen: dict[str, set[str]] = {}
    for info in Path(pipeline_root).glob(f"*/{filenames.RUN_INFO}"):
        try:
            run = storage.read_json(info)
            train = dict(run["config"]["train"], data=str(run.get("data_sha256")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for name in (*MODEL_HPARAMS, "data"):
            seen.setdefault(name, set()).add(repr(train.get(name)))
    return {name for name, values in seen.items() if len(values) > 1}


def write_experiment(pipeline_root: Path) -> None:
    """The HParams experiment of every run under the pipeline root: hyperparameters that differ between
    runs first and marked so (the dashboard shows those by default), then the test metrics and the gate's
    verdict. Rewritten at each run's start; a TensorBoard already running keeps the declaration it read."""
    import time

    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2, summary_v2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    differs = differing(pipeline_root)
    names = sorted((*MODEL_HPARAMS, *EXTRA_HPARAMS), key=lambda name: name not in differs)
    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name=name, differs=name in differs) for name in names],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag, group=group), display_name=shown)
                      for tag, group, shown in METRICS])
    summary = summary_v2._summary_pb(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))
    directory = Path(pipeline_root) / EXPERIMENT_DIR
    old = list(directory.glob("events.out.tfevents.*")) if directory.is_dir() else []
    writer = EventFileWriter(str(directory), filename_suffix=f".{time.time_ns()}")
    writer.add_event(event_pb2.Event(wall_time=time.time(), step=0, summary=summary))
    writer.close()
    for path in old:  # after the new one is complete: TensorBoard never sees the directory without one
        path.unlink(missing_ok=True)


def end_session(logs_dir: Path, succeeded: bool, history: list[dict]) -> None:
    """The trial's status and the best epoch's numbers (the weights early stopping kept)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hp_summary

    status = api_pb2.STATUS_SUCCESS if succeeded else api_pb2.STATUS_FAILURE
    with tf.summary.create_file_writer(str(logs_dir)).as_default():
        last = len(history)
        if history:
            best = min(history, key=lambda e: e["val_loss"])
            tf.summary.scalar("best/val_loss", best["val_loss"], step=last)
            tf.summary.scalar("best/epoch", best["epoch"], step=last)
        tf.summary.scalar("epochs_run", last, step=last)
        tf.summary.experimental.write_raw_pb(hp_summary.session_end_pb(status).SerializeToString(), step=last)


def final_epoch(model_dir: Path) -> int:
    """The last epoch trained, from train's history.json beside the model (1 when there is none)."""
    history = Path(model_dir).parent / filenames.HISTORY
    entries = storage.read_json(history) if history.is_file() else []
    return max((int(e["epoch"]) for e in entries), default=1)


def write_test(logs_dir: Path, metrics: dict, images: dict[str, bytes], labels, scores, step: int) -> None:
    """Test scalars and images at `step` (the final epoch), and the precision-recall curve."""
    import tensorflow as tf
    from tensorboard.plugins.pr_curve import summary as pr_summary

    curve = pr_summary.pb("test/precision_recall", np.asarray(labels).astype(bool),
                          np.clip(np.asarray(scores, np.float32), 0, 1), num_thresholds=101,
                          display_name="test precision-recall")
    with tf.summary.create_file_writer(str(logs_dir)).as_default():
        for name in TEST_METRICS:
            tf.summary.scalar(f"test/{name}", metrics[name], step=step)
        for name, png in images.items():
            tf.summary.image(f"test/{name.removesuffix('.png')}", tf.image.decode_png(png)[None], step=step)
        tf.summary.experimental.write_raw_pb(curve.SerializeToString(), step=step)


def write_gate(logs_dir: Path, blessed: bool) -> None:
    """The gate's verdict, a metric of the run's trial (1 blessed, 0 refused)."""
    import tensorflow as tf

    with tf.summary.create_file_writer(str(logs_dir)).as_default():
        tf.summary.scalar("gate/blessed", float(blessed), step=0)


