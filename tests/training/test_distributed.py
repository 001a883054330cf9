"""Distributed training and fault tolerance of the train component, on the real bank data."""
import re
import signal
import subprocess
import sys
import time

import pytest

from components import storage
from components.config.sections import EvaluateConfig, SplitConfig
from components.config.train import TrainConfig
from components.core import filenames
from components.core.errors import UsageError
from components.runners.workers import run_workers
from components.steps import evaluate, split, train
from components.training import strategy
from tests.helpers import BANK_CSV, BANK_SCHEMA, ROOT, sample_bank


@pytest.mark.parametrize("requested, gpus, cpus, tf_config, expected", [
    ("auto", 0, 1, None, "one_device"),
    ("auto", 1, 1, None, "one_device"),
    ("auto", 4, 1, None, "mirrored"),
    ("auto", 0, 2, None, "mirrored"),
    ("auto", 0, 1, {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, "multi_worker"),
    ("one_device", 4, 1, None, "one_device"),
])
def test_strategy_choice_follows_devices_and_tf_config(requested, gpus, cpus, tf_config, expected):
    choice = strategy.choose(requested, gpus, cpus, tf_config)
    assert choice.name == expected and choice.reason


def test_chief_is_worker_zero_unless_there_is_a_chief_task():
    workers = {"worker": ["a:1", "b:1"]}
    assert strategy.is_chief({"cluster": workers, "task": {"type": "worker", "index": 0}})
    assert not strategy.is_chief({"cluster": workers, "task": {"type": "worker", "index": 1}})
    with_chief = {"chief": ["c:1"], "worker": ["a:1"]}
    assert not strategy.is_chief({"cluster": with_chief, "task": {"type": "worker", "index": 0}})
    assert strategy.is_chief(None)
    with pytest.raises(UsageError, match="TF_CONFIG"):
        strategy.choose("multi_worker", 0, 1, None)


@pytest.fixture(scope="module")
def bank_splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("splits")
    for fmt in ("npz", "tfrecord"):
        split.run(SplitConfig(format=fmt, shards=4), {"data": BANK_CSV, "schema": BANK_SCHEMA},
                  {"output": root / fmt})
    return root


def accuracy_of(model_dir, split_dir):
    outputs = {"output": model_dir.parent / "evaluate"}
    return evaluate.run(EvaluateConfig(), {"model": model_dir, "split": split_dir}, outputs)["candidate"]["accuracy"]


def test_two_workers_match_one_worker_at_the_same_global_batch(bank_splits, tmp_path):
    """The defaults (wide_deep, LightGBM teacher) on two workers and on one."""
    split_dir = bank_splits / "tfrecord"
    common = dict(histogram_freq=0, seed=42)
    result = run_workers("components.steps.train", TrainConfig.of(batch_size=50, **common), {"split": split_dir},
                         {"output": tmp_path / "two" / "train"}, workers=2).unwrap()
    assert result["strategy"] == "multi_worker" and result["replicas"] == 2 and result["chief"]
    # the default recipe's teacher on two workers: each holds the whole training split, so all its targets
    assert result["teacher"] == "lightgbm"
    models = [p for p in tmp_path.rglob("saved_model.pb")]
    assert models == [tmp_path / "two" / "train" / filenames.MODEL / "saved_model.pb"]  # the chief's only
    assert not list(tmp_path.glob("**/workertemp*"))
    train.run(TrainConfig.of(batch_size=100, **common), {"split": split_dir}, {"output": tmp_path / "one" / "train"})
    two = accuracy_of(tmp_path / "two" / "train" / filenames.MODEL, split_dir)
    one = accuracy_of(tmp_path / "one" / "train" / filenames.MODEL, split_dir)
    assert abs(two - one) <= 0.02 and min(one, two) > 0.82


def run_train_cli(split_dir, out, *flags, timeout=600):
    return subprocess.run([sys.executable, "-m", "components.steps.train", "--split", str(split_dir), "--output",
                           str(out), "--histogram-freq", "0", *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_mirrored_strategy_over_two_logical_cpus(bank_splits, tmp_path):
    done = run_train_cli(bank_splits / "npz", tmp_path / "train", "--cpu-replicas", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "strategy mirrored with 2 replica(s)" in done.stderr
    assert "global batch 200 (100 per replica x 2 replicas)" in done.stderr
    result = storage.read_json(tmp_path / "train" / filenames.RESULT)
    assert result["replicas"] == 2 and result["strategy"] == "mirrored"
    assert accuracy_of(tmp_path / "train" / filenames.MODEL, bank_splits / "npz") > 0.82


def start_train(split_dir, out, *flags):
    return subprocess.Popen([sys.executable, "-m", "components.steps.train", "--split", str(split_dir), "--output",
                             str(out), "--histogram-freq", "0", *flags], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_epochs(history, epochs, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if history.exists() and len(storage.read_json(history)) >= epochs:
            return
        assert process.poll() is None, f"trainer ended early: {process.stderr.read()[-2000:]}"
        time.sleep(0.05)
    raise AssertionError(f"no {epochs} epochs within {timeout}s")


def test_sigterm_saves_a_complete_checkpoint_and_exits_retryable(bank_splits, tmp_path):
    import tensorflow as tf

    out = tmp_path / "train"
    process = start_train(bank_splits / "npz", out, "--patience", "50")
    wait_for_epochs(out / filenames.HISTORY, 2, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 75, stderr[-2000:]
    assert "SIGTERM during epoch" in stderr and "Re-run the same command" in stderr
    checkpoint = tf.train.latest_checkpoint(str(out / filenames.BACKUP / "chief"))
    assert checkpoint, list((out / filenames.BACKUP).rglob("*"))
    names = {name for name, _ in tf.train.list_variables(checkpoint)}
    assert any("kernel" in n for n in names) and any("optimizer" in n for n in names)
    assert not (out / filenames.MODEL).exists()
    # the interrupted epoch is redone from its start, not skipped
    interrupted = int(re.search(r"SIGTERM during epoch (\d+)", stderr).group(1))
    again = run_train_cli(bank_splits / "npz", out, "--patience", "50", "--epochs", str(interrupted + 1))
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming train from epoch {interrupted} " in again.stderr
    epochs = [e["epoch"] for e in storage.read_json(out / filenames.HISTORY)]
    assert epochs == list(range(1, interrupted + 2))


def test_multi_worker_input_shards_are_disjoint_and_none_starves(tmp_path, bank_frame):
    """Applies the same auto-sharding MultiWorkerMirroredStrategy applies, for each of 3 workers."""
    import numpy as np
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset

    from components.data.features import FeatureSet
    from components.storage import datasets

    frame = bank_frame.copy()
    frame["balance"] = np.arange(len(frame))  # a unique id per row
    csv = tmp_path / "ids.csv"
    frame.to_csv(csv, index=False)
    for fmt in ("tfrecord", "npz"):
        out = tmp_path / fmt
        split.run(SplitConfig(format=fmt, shards=3), {"data": csv, "schema": BANK_SCHEMA}, {"output": out})
        spec = FeatureSet.from_dict(storage.read_json(out / filenames.FEATURES))
        dataset = datasets.raw_batches(out, "train", spec, batch_size=64)
        seen = []
        for worker in range(3):
            ids = [batch["balance"].numpy() for batch, _ in _AutoShardDataset(dataset, 3, worker)]
            seen.append(np.concatenate(ids))
        sizes = [len(ids) for ids in seen]
        assert min(sizes) > 0.25 * sum(sizes), (fmt, sizes)  # none starves
        union = np.concatenate(seen)
        assert len(np.unique(union)) == len(union) == 8929, fmt  # disjoint, and every row seen once


def test_fewer_shards_than_workers_is_refused(bank_splits):
    with pytest.raises(UsageError, match="4 TFRecord shard.*5 workers.*--shards 5"):
        train.check_shards(bank_splits / "tfrecord", 5)
    train.check_shards(bank_splits / "tfrecord", 4)


def start_workers(split_dir, out, tf_configs, *flags):
    import json
    import os

    return [subprocess.Popen([sys.executable, "-m", "components.steps.train", "--split", str(split_dir), "--output",
                              str(out), "--histogram-freq", "0", *flags], cwd=ROOT, text=True,
                             env=dict(os.environ, TF_CONFIG=json.dumps(tf_config)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for tf_config in tf_configs]


def test_losing_a_worker_is_retryable_and_both_workers_resume_from_the_checkpoint(bank_splits, tmp_path):
    """What a Kubernetes Indexed Job does when a worker pod dies: the survivor exits 75 (retried, not a bug),
    then every worker starts again and resumes from the epoch checkpoint they saved together."""
    from components.runners.workers import tf_configs

    out, flags = tmp_path / "train", ("--patience", "50", "--batch-size", "50", "--checkpoint-secs", "0")
    chief, worker = start_workers(bank_splits / "tfrecord", out, tf_configs(2), *flags)
    wait_for_epochs(out / filenames.HISTORY, 2, chief)
    worker.kill()
    _, stderr = chief.communicate(timeout=300)
    worker.communicate()
    assert chief.returncode == 75, stderr[-3000:]
    assert "another training worker was lost" in stderr
    done = len(storage.read_json(out / filenames.HISTORY))
    again = start_workers(bank_splits / "tfrecord", out, tf_configs(2), *flags, "--epochs", str(done + 1))
    errors = [p.communicate(timeout=600)[1] for p in again]
    assert [p.returncode for p in again] == [0, 0], errors[0][-3000:]
    assert re.search(r"resuming train from epoch \d+", errors[0])
    assert [e["epoch"] for e in storage.read_json(out / filenames.HISTORY)] == list(range(1, done + 2))
    assert (out / filenames.MODEL / "saved_model.pb").is_file()


def test_wide_deep_trains_on_two_workers_whose_shards_end_in_partial_batches_of_different_sizes(tmp_path,
                                                                                                 bank_frame):
    """Embeddings have sparse gradients, which workers all-gather: inside a multi-step execution that fails
    when the workers' batches differ in size. 3 shards on 2 workers give one worker twice the rows of the
    other, so their last batches of a pass differ (and fall at different steps) unless every batch is full."""
    csv = tmp_path / "bank.csv"
    sample_bank(bank_frame, 1000).to_csv(csv, index=False)
    split_dir = tmp_path / "split"
    split.run(SplitConfig(format="tfrecord", shards=3), {"data": csv, "schema": BANK_SCHEMA}, {"output": split_dir})
    config = TrainConfig.of(family="wide_deep", epochs=3, patience=3, batch_size=50, learning_rate=0.01,
                            deep_units="16,8", histogram_freq=0, teacher="")  # no teacher: the input streams
    result = run_workers("components.steps.train", config, {"split": split_dir}, {"output": tmp_path / "train"},
                         workers=2).unwrap()
    assert result["strategy"] == "multi_worker" and result["replicas"] == 2
    assert [e["epoch"] for e in storage.read_json(tmp_path / "train" / filenames.HISTORY)] == [1, 2, 3]
    assert accuracy_of(tmp_path / "train" / filenames.MODEL, split_dir) > 0.7


@pytest.mark.parametrize("overrides, rows, multi_worker, expected", [
    ({}, 800, False, (True, "lightgbm")),
    ({}, 800, True, (True, "lightgbm")),  # every worker holds the split the teacher scores
    ({"teacher": ""}, 800, True, (False, "")),  # streamed, each worker its own shards
    ({"cache_rows": 500}, 800, False, (False, "")),  # auto: too big to hold, so no teacher
    ({"family": "mlp"}, 800, False, (True, "")),  # auto: mlp's loss takes hard labels only
])
def test_where_the_training_split_is_held_and_which_teacher_is_distilled(overrides, rows, multi_worker, expected):
    from components.training import inputs

    assert inputs.placement(TrainConfig.of(**overrides), rows, multi_worker) == expected


def test_a_teacher_asked_for_on_a_split_too_big_to_hold_names_the_fix():
    from components.training import inputs

    with pytest.raises(UsageError, match=r"train.teacher=lightgbm .* raise train.cache_rows above 800 \(now 500\)"):
        inputs.placement(TrainConfig.of(teacher="lightgbm", cache_rows=500), 800, multi_worker=True)
