"""The Kubernetes runner against StandInKubeApiServer (a stand-in API server, fake_kube_api.py), through
pipeline.main and the real kubernetes client: only for what the real cluster of test_kubernetes_cluster.py
cannot produce on demand — an eviction at a chosen moment, a pod that exits 75 until the backoff limit, four
workers on a two-CPU node — and for failures before any cluster is reached (bad flags, no API server).
Runs, failures, deadlines, cancellation, missing objects and CRDs: test_kubernetes_cluster.py, on the real one."""
from __future__ import annotations

import json

import pytest

from tests.helpers import run_pipeline
from tests.runners.kubernetes.fake_kube_api import Attempt, StandInKubeApiServer, ok

METRICS = {"accuracy": 0.85, "auc": 0.92, "pr_auc": 0.9, "balanced_accuracy": 0.85, "precision": 0.83, "recall": 0.86,
           "f1": 0.84, "loss": 0.36}
GOOD = {"evaluate": [ok({"candidate": METRICS})], "push": [ok({"pushed_to": "/artifacts/serving/bank/1"})]}
STEPS = ["validate", "split", "train", "evaluate", "push"]


def run_on(server: StandInKubeApiServer, tmp_path, *extra: str) -> int:
    return run_pipeline("--runner=kubernetes", "--kubeconfig", server.kubeconfig(tmp_path / "kubeconfig"),
                        "--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
                        "--run-id", "r1", "--poll-seconds", "0.01", *extra)


def manifest(tmp_path) -> dict:
    return json.loads((tmp_path / "runs" / "r1" / "manifest.json").read_text())


def container_args(server, step: str) -> list[str]:
    return server.jobs[f"bp-r1-{step}"]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_eviction_is_retried_without_counting_and_exit_75_counts_against_backoff(tmp_path, capsys):
    train = [Attempt("evicted", log="epoch 1"), Attempt("exit", 75, "ERROR pipeline: disk full", error="disk full"),
             ok({"epochs_run": 3})]
    with StandInKubeApiServer({**GOOD, "train": train}) as server:
        assert run_on(server, tmp_path, "--backoff-limit", "1") == 0
    assert server.attempts["bp-r1-train/0"] == 3
    assert server.jobs["bp-r1-train"]["status"]["failed"] == 1  # the eviction was Ignored, the 75 Counted
    assert manifest(tmp_path)["steps"]["train"]["result"] == {"epochs_run": 3}
    assert "was disrupted (EvictionByEvictionAPI)" in capsys.readouterr().err


def test_infrastructure_failures_beyond_backoff_limit_exit_75(tmp_path):
    train = [Attempt("exit", 75), Attempt("exit", 75)]
    with StandInKubeApiServer({"train": train}) as server:
        assert run_on(server, tmp_path, "--backoff-limit", "1") == 75
    assert server.jobs["bp-r1-train"]["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"


def test_four_workers_run_as_an_indexed_job_behind_a_headless_service(tmp_path):
    with StandInKubeApiServer({**GOOD, "train": [ok({"chief": True, "replicas": 4})]}) as server:
        assert run_on(server, tmp_path, "--workers", "4") == 0
    assert ("Service", "bp-r1-train") in server.created
    assert server.created.index(("Service", "bp-r1-train")) < server.created.index(("Job", "bp-r1-train"))
    assert ("Service", "bp-r1-train") in server.deleted  # removed once training is over
    spec = server.jobs["bp-r1-train"]["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert sorted(k for k in server.attempts if "train" in k) == [f"bp-r1-train/{i}" for i in range(4)]
    assert manifest(tmp_path)["steps"]["train"]["result"] == {"chief": True, "replicas": 4}


def test_unreachable_api_server_is_an_infrastructure_failure(tmp_path):
    server = StandInKubeApiServer()  # never started: nothing listens on its port
    server.httpd.server_close()
    assert run_on(server, tmp_path) == 75


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers 0"), (["--gpu-node-selector", "nokey"], "KEY=VALUE"),
    (["--gpu-toleration", "gpu:Sometimes"], "EFFECT"), (["--dry-run"], "--manifests-dir"),
    (["--data", "/home/me/clients.csv"], "/artifacts/data/clients.csv")])
def test_bad_flags_are_usage_errors_naming_the_flag(tmp_path, capsys, flags, message):
    with StandInKubeApiServer() as server:
        assert run_on(server, tmp_path, *flags) == 2
    assert message in capsys.readouterr().err
