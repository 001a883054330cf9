"""The whole pipeline on the bank data on a real cluster (kind, minikube, ...): skipped without a kubeconfig.

Steps (README, "Kubernetes"): build and load the images, `kubectl apply -k k8s/overlays/cpu`, then
    make test PYTEST_ARGS="-m cluster"
Optional: BANKPIPE_K8S_CONTEXT (default: the current context), BANKPIPE_IMAGE_REGISTRY, BANKPIPE_K8S_ARGS
(extra runner flags, e.g. "--gpus-per-worker 1" or "--workers 2").
"""
from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import pytest

from tests.conftest import run_pipeline

KUBECONFIG = Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube" / "config")

pytestmark = [pytest.mark.cluster, pytest.mark.e2e,
              pytest.mark.skipif(not KUBECONFIG.is_file(), reason=f"no kubeconfig ({KUBECONFIG}): no cluster")]


def test_whole_pipeline_runs_as_jobs_on_the_cluster(tmp_path):
    run_id = f"e2e-{int(time.time())}"
    flags = ["--runner=kubernetes", "--run-id", run_id, "--pipeline-root", str(tmp_path / "runs"),
             "--serving-dir", str(tmp_path / "serving"), "--epochs", "3", "--kubeconfig", str(KUBECONFIG)]
    if os.environ.get("BANKPIPE_K8S_CONTEXT"):
        flags += ["--context", os.environ["BANKPIPE_K8S_CONTEXT"]]
    if os.environ.get("BANKPIPE_IMAGE_REGISTRY"):
        flags += ["--image-registry", os.environ["BANKPIPE_IMAGE_REGISTRY"]]
    flags += shlex.split(os.environ.get("BANKPIPE_K8S_ARGS", ""))
    code = run_pipeline(*flags)
    manifest = json.loads((tmp_path / "runs" / run_id / "manifest.json").read_text())
    # 0: blessed and pushed; 6: trained and evaluated but refused by the gate (3 epochs may not suffice)
    assert code in (0, 6), manifest
    assert all(manifest["steps"][s]["status"] == "succeeded" for s in ("validate", "split", "train", "evaluate"))
    metrics = manifest["steps"]["evaluate"]["result"]["candidate"]
    assert 0.5 < metrics["accuracy"] <= 1 and 0.5 < metrics["auc"] <= 1
