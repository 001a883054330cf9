"""TensorBoard over a pipeline root compares runs: every run a trial of the HParams dashboard with its real
hyperparameters and metrics, read back through the real `tensorboard` server's HTTP API (as its frontend
asks); epochs counted from 1; the test metrics at the final epoch, with a PR curve; the model as the graph."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from components import storage
from components.core import filenames
from tests.helpers import run_pipeline
from tests.tensorboard_events import get_json as get
from tests.tensorboard_events import tensorboard_server

pytestmark = pytest.mark.e2e
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


@pytest.fixture(scope="module")
def pipeline_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tensorboard")
    flags = ["--pipeline-root", str(root / "runs"), "--serving-dir", str(root / "serving"), "--epochs", "2"]
    run_pipeline(*flags, "--run-id", "small", "--set", "train.hidden_units=8")
    run_pipeline(*flags, "--run-id", "default")
    for run in ("small", "default"):  # the gate may refuse a 2-epoch model: evaluate is what matters here
        assert storage.read_json(root / "runs" / run / "manifest.json")["steps"]["evaluate"]["status"] == "succeeded"
    return root / "runs"


def post(url: str, body: dict):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def tensorboard(pipeline_root):
    with tensorboard_server(pipeline_root) as base:
        yield base


def until(what: str, probe, timeout: float = 120):
    """probe() until it returns something true (the server loads event files in the background)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"TensorBoard never showed {what}; last answer: {last}")


def experiment(base: str) -> dict:
    return post(f"{base}/hparams/experiment", {"experimentName": "", "includeMetrics": True, "hparamsLimit": 1000})


def session_groups(base: str, found: dict) -> dict:
    columns = [{"hparam": h["name"], "includeInResult": True} for h in found["hparamInfos"]]
    columns += [{"metric": m["name"], "includeInResult": True} for m in found["metricInfos"]]
    return post(f"{base}/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": STATUSES, "colParams": columns, "startIndex": 0, "sliceSize": 100,
        "aggregationType": "AGGREGATION_AVG", "includeMetrics": True})


def metric_values(group: dict) -> dict:
    return {(v["name"]["group"], v["name"]["tag"]): v["value"] for v in group["metricValues"]}


def test_every_run_is_a_trial_with_its_hyperparameters_and_metrics(pipeline_root, tensorboard):
    found = until("the experiment", lambda: (lambda e: e if len(e.get("metricInfos", [])) else None)(
        experiment(tensorboard)))
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in found["metricInfos"]}
    evaluate = "../../evaluate/logs"  # the test metrics, from the session at <run>/train/logs
    assert {(evaluate, "test/accuracy"), (evaluate, "test/auc"), (evaluate, "test/f1"), ("validation", "epoch_loss"),
            ("validation", "epoch_accuracy")} <= metrics
    hparams = {h["name"] for h in found["hparamInfos"]}
    assert {"hidden_units", "learning_rate", "batch_size", "epochs", "crosses", "seed", "data"} <= hparams
    assert not hparams & {"checkpoint_secs", "cache_rows", "histogram_freq", "steps_per_execution", "cpu_replicas"}

    def both_with_test_metrics():
        groups = session_groups(tensorboard, found)["sessionGroups"]
        done = [g for g in groups if ("../../evaluate/logs", "test/auc") in metric_values(g)]
        return groups if len(done) == 2 else None

    groups = until("two trials with test metrics", both_with_test_metrics)
    trials = {g["sessions"][0]["name"]: g for g in groups}
    assert set(trials) == {"small/train/logs", "default/train/logs"}
    assert {g["name"] for g in groups} == {"small", "default"}  # the trial is named like its run
    for run, trial in trials.items():
        run_id = run.split("/")[0]
        values, metrics_json = metric_values(trial), storage.read_json(pipeline_root / run_id / "evaluate" /
                                                                       filenames.METRICS)["candidate"]
        for name in ("accuracy", "auc", "f1"):
            assert values[("../../evaluate/logs", f"test/{name}")] == pytest.approx(metrics_json[name], abs=1e-6)
        history = storage.read_json(pipeline_root / run_id / "train" / filenames.HISTORY)
        assert values[("validation", "epoch_loss")] == pytest.approx(history[-1]["val_loss"], abs=1e-6)
        assert trial["sessions"][0]["status"] == "STATUS_SUCCESS"
        assert trial["hparams"]["epochs"] == 2 and trial["hparams"]["learning_rate"] == pytest.approx(0.001)
    assert trials["small/train/logs"]["hparams"]["hidden_units"] == 8
    assert trials["default/train/logs"]["hparams"]["hidden_units"] == 30


def test_epochs_from_one_test_metrics_at_the_last_and_a_pr_curve(pipeline_root, tensorboard):
    tags = until("the runs' scalars", lambda: (lambda t: t if "default/evaluate/logs" in t else None)(
        get(f"{tensorboard}/scalars/tags")))
    assert "epoch_loss" in tags["default/train/logs/validation"]
    points = get(f"{tensorboard}/scalars/scalars?run=default/train/logs/validation&tag=epoch_loss")
    assert [step for _, step, _ in points] == [1, 2]
    test = get(f"{tensorboard}/scalars/scalars?run=default/evaluate/logs&tag=test/accuracy")
    assert [step for _, step, _ in test] == [2]
    curves = until("the PR curve", lambda: get(f"{tensorboard}/pr_curves/tags"))
    assert "test/precision_recall/pr_curves" in curves["default/evaluate/logs"]


def test_graph_is_the_model_not_the_training_loop(pipeline_root):
    import tensorflow as tf

    names = set()
    events = next((pipeline_root / "default" / "train" / filenames.LOGS / "train").glob("events.out.tfevents.*"))
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        if event.graph_def:
            graph = tf.compat.v1.GraphDef.FromString(event.graph_def)
            names.update(node.op for node in graph.node)
            names.update(node.name for node in graph.node)
    assert "MatMul" in names and names & {"Softmax", "Sigmoid"}  # the model's layers and its output
    assert not {"While", "StatelessWhile"} & names  # the training loop's graph would hold the steps' loop


def test_the_columns_shown_by_default_are_what_differs_and_the_test_metrics(tensorboard):
    """The dashboard shows the first five hyperparameters (those marked as differing first) and the first five
    metrics: hidden_units (8 in one run, 30 in the other) and the test metrics with the gate's verdict."""
    found = until("the experiment", lambda: (lambda e: e if len(e.get("metricInfos", [])) else None)(
        experiment(tensorboard)))
    differ = [h["name"] for h in found["hparamInfos"] if h.get("differs")]
    assert differ == ["hidden_units"]
    assert found["hparamInfos"][0]["name"] == "hidden_units"
    first = [(m["name"]["group"], m["name"]["tag"]) for m in found["metricInfos"][:5]]
    evaluate = "../../evaluate/logs"
    assert first[:4] == [(evaluate, "test/accuracy"), (evaluate, "test/auc"), (evaluate, "test/f1"),
                         ("../../push/logs", "gate/blessed")]
