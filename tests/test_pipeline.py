"""End to end: the whole local pipeline on the real bank data, as `python pipeline.py` runs it."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest

import pipeline
from components import storage
from components.core import filenames
from components.registry import integrity, lookups
from tests.helpers import BANK_CSV, ROOT, run_pipeline, sample_bank
from tests.tensorboard_events import get_json, tensorboard_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two full runs on the bank data against one serving directory: the second has a baseline."""
    root = tmp_path_factory.mktemp("pipeline")
    flags = ["--pipeline-root", str(root / "runs"), "--serving-dir", str(root / "serving")]
    codes = [run_pipeline(*flags, "--run-id", "first"), run_pipeline(*flags, "--run-id", "second")]
    return root, codes


def manifest(root, run_id):
    return storage.read_json(root / "runs" / run_id / "manifest.json")


def test_full_run_pushes_a_model_above_the_reference_accuracy(two_runs):
    root, codes = two_runs
    assert codes[0] == 0
    first = manifest(root, "first")
    assert first["status"] == "succeeded"
    assert all(step["status"] == "succeeded" and step["seconds"] >= 0 for step in first["steps"].values())
    assert first["data_sha256"] == storage.file_sha256(BANK_CSV)
    assert first["config"]["train"]["hidden_units"] == 30
    metrics = storage.read_json(root / "runs" / "first" / "evaluate" / filenames.METRICS)
    assert metrics["candidate"]["accuracy"] >= 0.85 and metrics["baseline"] is None
    assert first["steps"]["push"]["result"]["pushed_to"] == str(root / "serving" / "bank" / "1")
    recorded = storage.read_json(root / "serving" / "bank" / "1" / filenames.VERSION_DIGESTS)["sha256"]
    assert recorded == integrity.digests(root / "serving" / "bank" / "1") and "saved_model.pb" in recorded


def test_an_identical_second_run_reuses_the_steps_and_pushes_nothing(two_runs):
    """Same data, config and code: split and train are copied from the first run; evaluate compares with the
    deployed version 1 (the same model) and push finds the model identical to it."""
    root, codes = two_runs
    assert codes[1] == 0
    second = manifest(root, "second")
    assert [second["steps"][s]["status"] for s in ("split", "train")] == ["cached", "cached"]
    assert second["steps"]["train"]["cached_from"] == "first"
    metrics = storage.read_json(root / "runs" / "second" / "evaluate" / filenames.METRICS)
    assert metrics["deployed_version"] == str(root / "serving" / "bank" / "1")
    assert metrics["baseline"]["accuracy"] == pytest.approx(metrics["candidate"]["accuracy"])
    assert metrics["comparison"]["rows"] == metrics["test_rows"]  # version 1 never saw this test split
    gate = (root / "runs" / "second" / "push" / filenames.GATE_TXT).read_text()
    assert "accuracy vs deployed" in gate and "serving/bank/1" in gate and "auc vs best version 1" in gate
    assert second["steps"]["push"]["result"]["identical_to"] == str(root / "serving" / "bank" / "1")
    inputs = second["steps"]["validate"]["inputs"]  # what the lookups found, per step
    assert inputs["previous_statistics"].endswith("first/validate/stats.pb")
    assert second["steps"]["evaluate"]["inputs"]["baseline_model"].endswith("serving/bank/1")
    assert (root / "runs" / "second" / "validate" / filenames.DRIFT_TXT).read_text() == "no drift\n"
    assert lookups.versions(root / "serving" / "bank") == [1]
    text = pipeline.summary(second, root / "runs" / "second")
    assert "reused from run first" in text and "nothing pushed: identical to version 1" in text
    assert [line.split()[0] for line in text.splitlines()[1:6]] == ["validate", "split", "train", "evaluate", "push"]


def test_the_summary_repeats_what_the_log_warned_about(two_runs):
    root, _ = two_runs
    first = manifest(root, "first")
    first["steps"]["validate"]["result"].update(duplicated_rows=599, drift=["age: 0.2"])
    text = pipeline.summary(first, root / "runs" / "first")
    assert "warning: 599 duplicated rows in the data" in text and "drift against the previous run in 1" in text


def test_anomalous_csv_stops_before_training_and_leaves_serving_untouched(two_runs, tmp_path, bank_frame, capsys):
    root, _ = two_runs
    bad = sample_bank(bank_frame, 1000)
    bad.loc[5, "month"] = "smarch"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    before = sorted(p.name for p in (root / "serving" / "bank").iterdir())
    code = run_pipeline("--data", str(path), "--schema", str(ROOT / "data" / "schema.pbtxt"), "--pipeline-root",
                        str(root / "runs"), "--serving-dir", str(root / "serving"), "--run-id", "bad")
    assert code == 4
    steps = manifest(root, "bad")["steps"]
    assert steps["validate"]["status"] == "failed" and "month" in steps["validate"]["error"]
    assert {steps[s]["status"] for s in ("split", "train", "evaluate", "push")} == {"pending"}
    assert not (root / "runs" / "bad" / "train").exists()
    assert sorted(p.name for p in (root / "serving" / "bank").iterdir()) == before
    assert "smarch" in capsys.readouterr().err


def test_other_csv_with_another_delimiter_and_label(tmp_path, bank_frame):
    other = bank_frame.rename(columns={"deposit": "subscribed"}).drop(columns=["day"])
    other["subscribed"] = (other["subscribed"] == "yes").astype(int)
    path = tmp_path / "clients.csv"
    other.to_csv(path, sep=";", index=False)
    code = run_pipeline("--data", str(path), "--label", "subscribed", "--format", "tfrecord",
                        "--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
                        "--run-id", "other")
    assert code == 0
    run_dir = tmp_path / "runs" / "other"
    assert storage.read_json(run_dir / "validate" / filenames.VALIDATE_RESULT)["schema"] == "inferred"
    assert "subscribed" in (run_dir / "validate" / filenames.SCHEMA).read_text()
    assert list((run_dir / "split" / "train").glob("*.tfrecord.gz"))
    features = storage.read_json(run_dir / "split" / filenames.FEATURES)
    assert features["label"] == "subscribed" and "day" not in features["numeric"]
    assert (tmp_path / "serving" / "clients" / "1" / "saved_model.pb").is_file()  # its own model, by file name


SCORE_IN_FRESH_PROCESS = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import pandas as pd, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
rows = pd.read_csv(sys.argv[2]).drop(columns=["deposit"])
inputs = {name: tf.constant(rows[name].to_numpy(dtype=spec.dtype.as_numpy_dtype if spec.dtype != tf.string
                                                else str))
          for name, spec in serve.structured_input_signature[1].items()}
print(json.dumps(serve(**inputs)["probabilities"].numpy().tolist()))
"""


def test_pushed_model_scores_csv_rows_in_a_fresh_process(two_runs, tmp_path, bank_frame):
    root, _ = two_runs
    rows = sample_bank(bank_frame, 200, seed=3)
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    done = subprocess.run([sys.executable, "-c", SCORE_IN_FRESH_PROCESS, str(root / "serving" / "bank" / "1"),
                           str(path)], capture_output=True, text=True, timeout=300, check=True)
    probabilities = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    assert probabilities.shape == (200, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    accuracy = np.mean(probabilities.argmax(axis=1) == (rows["deposit"] == "yes").to_numpy())
    assert accuracy > 0.8


def test_tensorboard_serves_the_runs_scalars(two_runs):
    root, _ = two_runs
    run_dir = root / "runs" / "first"
    with tensorboard_server(run_dir) as plugins:
        base = f"{plugins}/scalars"
        deadline, tags = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            try:
                tags = get_json(f"{base}/tags")
                if "train/logs/validation" in tags and "evaluate/logs" in tags:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert "epoch_loss" in tags["train/logs/train"] and "epoch_accuracy" in tags["train/logs/validation"]
        points = get_json(f"{base}/scalars?run=train/logs/validation&tag=epoch_loss")
        epochs = len(storage.read_json(run_dir / "train" / filenames.HISTORY))
        assert len(points) == epochs and all(np.isfinite(p[2]) for p in points)
        assert "test/accuracy" in tags["evaluate/logs"]


@pytest.mark.parametrize("module", ["pipeline", "components.steps.validate", "components.steps.split",
                                    "components.steps.train",
                                    "components.steps.evaluate", "components.steps.push"])
def test_every_cli_explains_itself(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0
    assert "exit codes:" in done.stdout and "--debug" in done.stdout
