"""Runs submitted to the real cluster with runs, models and data on the real S3 server, from a folder that
holds a CSV only this machine has (k8s/overlays/objectstore: no PersistentVolumeClaim, each pod's launcher
pulls and publishes, the Secret made from this machine's credentials). One worker, then the same run again
(split and train reused from the store), then two workers; the registry and predict read what the pods
published (the two-worker run with --no-cache: every step runs again). Under CI these must run: .ci/run
starts the cluster and the store."""
from __future__ import annotations

import json
import uuid

import pytest

from components import models, predict
from components.core import filenames
from components.runners.kubernetes import store
from components.storage.objectstore import Store, Uri
from tests.helpers import BANK_CSV, run_pipeline
from tests.runners.kubernetes.test_kubernetes_cluster import (
    KUBECONFIG,
    Cluster,
    cluster,  # noqa: F401  (fixture)
    new_id,
)

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
NAMESPACE = "bankpipe-store"


def flags(bucket: str, run_id: str, model: str, *extra: str) -> list[str]:
    return ["--runner=kubernetes", "--kubeconfig", str(KUBECONFIG), "--run-id", run_id,
            "--pipeline-root", f"s3://{bucket}/runs", "--serving-dir", f"s3://{bucket}/serving",
            "--data", "clients.csv", "--cpu-request", "250m", "--memory-request", "512Mi", "--poll-seconds", "1",
            "--set", f"push.model_name={model}", *extra]


@pytest.fixture(scope="module")
def laptop(cluster, server_settings, tmp_path_factory):  # noqa: F811  (fixtures)
    """A folder of its own holding clients.csv, the store's settings in the environment, a bucket; the three
    runs' ids, exit codes and summaries."""
    suffix = uuid.uuid4().hex[:6]
    bucket, model = f"test-k8s-{suffix}", f"clients_{suffix}"
    here = tmp_path_factory.mktemp("laptop")
    (here / "clients.csv").write_bytes(BANK_CSV.read_bytes())
    runs = {name: new_id(f"{name}-{suffix}") for name in ("one", "again", "two-workers")}
    done = {}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server_settings.items():
            patch.setenv(name, value)
        patch.chdir(here)
        for name, extra in (("one", ()), ("again", ()), ("two-workers", ("--workers", "2", "--no-cache"))):
            done[name] = run_pipeline(*flags(bucket, runs[name], model, *extra))
        yield {"bucket": bucket, "model": model, "here": here, "runs": runs, "codes": done, "patch": patch}
        Store().delete_tree(Uri(bucket))


def local(laptop, name: str, path: str):
    return laptop["here"] / "runs" / laptop["runs"][name] / path


def test_one_worker_on_the_store_is_blessed_with_no_claim_and_its_results_here(laptop, cluster,  # noqa: F811
                                                                                 server_settings):  # noqa: F811
    assert laptop["codes"]["one"] == 0
    for name in ("evaluate/metrics.json", "push/gate.txt", "validate/report.html", filenames.MANIFEST):
        assert local(laptop, "one", name).is_file(), name
    assert "BLESSED" in local(laptop, "one", "push/gate.txt").read_text()
    manifest = json.loads(local(laptop, "one", filenames.MANIFEST).read_text())
    bucket = laptop["bucket"]
    assert manifest["steps"]["push"]["result"]["pushed_to"] == f"s3://{bucket}/serving/{laptop['model']}/1"
    assert manifest["steps"]["train"]["result"]["strategy"] == "one_device"
    on_cluster = Cluster(KUBECONFIG)
    claims = on_cluster.kubectl("get", "pvc", "-n", NAMESPACE, "-o", "name", namespaced=False)
    assert claims.strip() == ""
    jobs = on_cluster.kubectl("get", "jobs", "-n", NAMESPACE, "-o", "yaml", namespaced=False)
    assert f"name: {store.SECRET}" in jobs
    texts = [jobs, json.dumps(manifest), local(laptop, "one", filenames.RUN_INFO).read_text()]
    for text in texts:
        assert server_settings["AWS_SECRET_ACCESS_KEY"] not in text and server_settings["AWS_ACCESS_KEY_ID"] not in text
    uploaded = Store().listing(Uri(bucket, "runs/.inputs"))
    assert [k.split("/")[-1] for k in uploaded] == ["clients.csv"]  # once, by content, for all three runs


def test_the_same_run_again_reuses_split_and_train_from_the_store(laptop):
    assert laptop["codes"]["again"] == 0
    steps = json.loads(local(laptop, "again", filenames.MANIFEST).read_text())["steps"]
    assert steps["split"]["status"] == steps["train"]["status"] == "cached"
    assert steps["train"]["cached_from"] == laptop["runs"]["one"]


def test_two_workers_on_the_store_train_together_and_push(laptop):
    assert laptop["codes"]["two-workers"] == 0
    manifest = json.loads(local(laptop, "two-workers", filenames.MANIFEST).read_text())
    train = manifest["steps"]["train"]["result"]
    assert train["strategy"] == "multi_worker" and train["replicas"] == 2
    assert manifest["steps"]["push"]["result"]["blessed"]
    metrics = json.loads(local(laptop, "two-workers", "evaluate/metrics.json").read_text())
    assert metrics["candidate"]["accuracy"] >= 0.8


def test_the_registry_and_predict_read_what_the_pods_published(laptop, capsys):
    bucket, model, here = laptop["bucket"], laptop["model"], laptop["here"]
    capsys.readouterr()
    assert models.main(["--serving-dir", f"s3://{bucket}/serving", "list"]) == 0
    listed = capsys.readouterr().out
    assert model in listed and laptop["runs"]["one"] in listed
    assert predict.main(["--model", f"s3://{bucket}/serving/{model}", "--data", str(here / "clients.csv"),
                         "--output", str(here / "scores.csv")]) == 0
    assert len((here / "scores.csv").read_text().splitlines()) == 11163
