"""Continuing a run: finished steps are kept, an interrupted train resumes from its checkpoint."""
import re
import signal
import subprocess
import sys
import time

import pytest

from components import storage
from components.core import filenames
from tests.helpers import ROOT, run_pipeline

pytestmark = pytest.mark.e2e


def test_a_refused_run_continues_with_only_the_gate_rerun(tmp_path, capsys):
    flags = ["--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
             "--run-id", "again", "--epochs", "3"]
    assert run_pipeline(*flags, "--set", "push.min_auc=0.999") == 6
    first = storage.read_json(tmp_path / "runs" / "again" / "manifest.json")
    assert first["steps"]["push"]["status"] == "failed" and first["steps"]["push"]["exit_code"] == 6
    capsys.readouterr()
    assert run_pipeline(*flags, "--set", "push.min_auc=0.5", "--set", "push.min_accuracy=0.5") == 0
    err = capsys.readouterr().err
    for step in ("validate", "split", "train", "evaluate"):
        assert f"── {step} ── done in an earlier attempt" in err
    second = storage.read_json(tmp_path / "runs" / "again" / "manifest.json")
    assert second["attempts"] == 2 and second["status"] == "succeeded"
    assert second["steps"]["train"]["seconds"] == first["steps"]["train"]["seconds"]  # not re-run
    assert (tmp_path / "serving" / "bank" / "1").is_dir()


def test_a_killed_pipeline_resumes_training_where_it_stopped(tmp_path):
    command = [sys.executable, "pipeline.py", "--pipeline-root", str(tmp_path / "runs"), "--serving-dir",
               str(tmp_path / "serving"), "--run-id", "killed", "--set", "train.histogram_freq=0",
               "--set", "train.checkpoint_secs=0"]
    history = tmp_path / "runs" / "killed" / "train" / filenames.HISTORY
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (history.exists() and len(storage.read_json(history)) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, "training ended before the kill"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(storage.read_json(history))

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = int(re.search(r"resuming train from epoch (\d+)", again.stderr).group(1))
    # History is written just before each epoch's checkpoint: training restarts right after the listed
    # epochs, or redoes the last one if the kill fell between the two writes.
    assert resumed in (done_before, done_before + 1) and resumed > 1
    epochs = [e["epoch"] for e in storage.read_json(history)]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= resumed
    assert "── validate ── done in an earlier attempt" in again.stderr
    assert "gate: BLESSED" in again.stdout
    assert (tmp_path / "serving" / "bank" / "1" / "saved_model.pb").is_file()
