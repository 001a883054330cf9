"""The Kubernetes runner's submit / watch / fail / cancel logic, end to end through pipeline.main and the
real kubernetes client, against StandInKubeApiServer (a stand-in API server; see fake_kube_api.py)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_pipeline
from components import cli
from tests.runners.fake_kube_api import Attempt, StandInKubeApiServer, ok

METRICS = {"accuracy": 0.85, "auc": 0.92, "precision": 0.83, "recall": 0.86, "f1": 0.84, "loss": 0.36}
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


def test_success_runs_every_step_in_dag_order_with_logs_and_results(tmp_path, capsys):
    scripts = {**GOOD, "validate": [ok({"anomalies": 0}, log="INFO validate: 11162 rows, no anomalies")]}
    with StandInKubeApiServer(scripts) as server:
        assert run_on(server, tmp_path) == 0
    assert server.created == [("Job", f"bp-r1-{step}") for step in STEPS]
    steps = manifest(tmp_path)["steps"]
    assert [steps[s]["status"] for s in STEPS] == ["succeeded"] * 5
    assert steps["validate"]["result"] == {"anomalies": 0}
    assert steps["evaluate"]["result"]["candidate"] == METRICS
    assert steps["push"]["result"]["pushed_to"] == str(tmp_path / "serving" / "bank" / "1")  # the volume's path, mapped
    err = capsys.readouterr().err
    assert "[validate] INFO validate: 11162 rows, no anomalies" in err
    assert "port-forward svc/bankpipe-tensorboard 6006:6006" in err
    assert cli.RECORD_MARKER not in err  # the record line is consumed, not echoed
    # pods get in-cluster paths: the embedded data in the image, run dirs on the artifacts volume; lookups
    # (previous statistics, deployed model) are left to the pod, which searches the volume's folders
    args = container_args(server, "validate")
    assert args[:10] == ["components.runners.k8s_entry", "--pipeline-root", "/artifacts/runs", "--serving-dir",
                         "/artifacts/serving", "--run-id", "r1", "--model-name", "bank", "components.steps.validate"]
    assert args[args.index("--data") + 1] == "/app/data/bank.csv"
    assert args[args.index("--output") + 1] == "/artifacts/runs/r1/validate"
    assert "--previous-statistics" not in args and "--baseline-model" not in container_args(server, "evaluate")
    push = container_args(server, "push")
    assert push[push.index("--serving-dir") + 1] == "/artifacts/serving"


def test_failed_validation_fails_its_job_at_once_and_stops_the_run(tmp_path, capsys):
    failing = Attempt("exit", 4, "12:00:00 ERROR   pipeline: 2 anomalies: column 'age' has values out of range",
                      error="2 anomalies: column 'age' has values out of range\n  age: 3 values above 120")
    with StandInKubeApiServer({"validate": [failing]}) as server:
        assert run_on(server, tmp_path) == 4
    assert server.created == [("Job", "bp-r1-validate")]
    assert server.attempts == {"bp-r1-validate/0": 1}  # podFailurePolicy FailJob: no retry
    assert server.jobs["bp-r1-validate"]["status"]["conditions"][-1]["reason"] == "PodFailurePolicy"
    record = manifest(tmp_path)["steps"]
    assert record["validate"]["status"] == "failed" and record["validate"]["exit_code"] == 4
    assert "column 'age' has values out of range" in record["validate"]["error"]
    assert record["split"]["status"] == "pending"
    assert "kubectl -n bankpipe logs -l bankpipe.io/run=r1,bankpipe.io/step=validate" in capsys.readouterr().err


def test_eviction_is_retried_without_counting_and_exit_75_counts_against_backoff(tmp_path, capsys):
    train = [Attempt("evicted", log="epoch 1"), Attempt("exit", 75, "ERROR pipeline: disk full", error="disk full"), ok({"epochs_run": 3})]
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


def test_deadline_exceeded_stops_the_run_as_an_infrastructure_failure(tmp_path):
    with StandInKubeApiServer({"split": [Attempt("hang")]}) as server:
        assert run_on(server, tmp_path, "--job-deadline", "1") == 75
    assert server.jobs["bp-r1-split"]["spec"]["activeDeadlineSeconds"] == 1
    assert "train" not in {name.rsplit("-", 1)[1] for _, name in server.created}
    assert "ran past its deadline" in manifest(tmp_path)["steps"]["split"]["error"]


def test_ctrl_c_deletes_the_runs_jobs(tmp_path, capsys):
    with StandInKubeApiServer({"train": [Attempt("hang")]}, interrupt_when_polled=("train", 3)) as server:
        assert run_on(server, tmp_path) == 130
    assert sorted(server.deleted) == [("Job", f"bp-r1-{s}") for s in ("split", "train", "validate")]
    assert server.jobs == {} and server.pods == {}
    assert manifest(tmp_path)["steps"]["train"]["status"] == "failed"
    assert "interrupted: deleted job/bp-r1-" in capsys.readouterr().err


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


def test_missing_shared_objects_are_a_usage_error_before_any_job(tmp_path, capsys):
    with StandInKubeApiServer(has_pvc=False) as server:
        assert run_on(server, tmp_path) == 2
    assert server.created == []
    assert "kubectl apply -k k8s/overlays/cpu" in capsys.readouterr().err


def test_tfjob_without_the_training_operator_is_a_usage_error(tmp_path, capsys):
    with StandInKubeApiServer() as server:  # the stand-in, like a cluster without the CRD, has no tfjobs
        assert run_on(server, tmp_path, "--trainer", "tfjob", "--workers", "2") == 2
    assert "training operator" in capsys.readouterr().err


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
