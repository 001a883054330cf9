"""The Kubernetes runner against a real cluster: `make cluster` (k8s/cluster/) starts a single-node one here
(etcd, kube-apiserver, controller-manager, scheduler, a kubelet with containerd and runc, CoreDNS), with the
project's images loaded and k8s/overlays/cpu applied. `.ci/run` starts it, so under CI these tests must run.

Which Kubernetes tests use which: everything a real cluster produces on demand is here (runs, failures,
multi-worker DNS, pod deletion, cancellation, GPU scheduling, TensorBoard); test_kubernetes_runner.py
keeps the stand-in API server for what it cannot (an eviction at a chosen moment, exit 75 until the backoff
limit, a TFJob custom resource). Another cluster: BANKPIPE_KUBECONFIG=FILE with the images loaded and the
overlay applied (its volume must be a hostPath PersistentVolume for the tests that read it).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from components import storage
from components.core import filenames
from tests.helpers import BANK_CSV, BANK_SCHEMA, ROOT, run_pipeline

KUBECONFIG = Path(os.environ.get("BANKPIPE_KUBECONFIG") or ROOT / ".cache" / "cluster" / "kubeconfig")
NAMESPACE = "bankpipe"
pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


class Cluster:
    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str, check: bool = True, namespaced: bool = True) -> str:
        ns = ["-n", NAMESPACE] if namespaced else []
        done = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *ns, *args], capture_output=True,
                              text=True, timeout=180)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    def get(self, kind: str, selector: str) -> list[dict]:
        return json.loads(self.kubectl("get", kind, "-l", selector, "-o", "json"))["items"]

    def volume(self) -> Path:
        """The host folder behind the artifacts claim (a hostPath PersistentVolume on the local cluster)."""
        pv = json.loads(self.kubectl("get", "pv", "-o", "json", namespaced=False))["items"]
        paths = [p["spec"]["hostPath"]["path"] for p in pv if p["spec"].get("claimRef", {}).get("name")
                 == "bankpipe-artifacts" and "hostPath" in p["spec"]]
        if not paths:
            pytest.skip("the artifacts volume is not a hostPath PersistentVolume: its files cannot be read here")
        return Path(paths[0])


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    if not KUBECONFIG.is_file():
        message = f"no cluster: {KUBECONFIG} does not exist (`make cluster` starts one)"
        if os.environ.get("CI"):
            pytest.fail(message + "; under CI .ci/run must have started it")
        pytest.skip(message)
    found = Cluster(KUBECONFIG)
    found.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s", namespaced=False)
    return found


def flags(tmp_path: Path, run_id: str, *extra: str) -> list[str]:
    """A run on the cluster with small requests (a 2-CPU node holds two trainers and TensorBoard) and its
    own model name, so no test's deployed model is another's baseline."""
    return ["--runner=kubernetes", "--kubeconfig", str(KUBECONFIG), "--run-id", run_id,
            "--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
            "--cpu-request", "250m", "--memory-request", "512Mi", "--poll-seconds", "1",
            "--set", f"push.model_name={run_id.replace('-', '_')}", *extra]


# validate and split run as pods before train: minutes on a busy 2-core machine (pytest's own limit is 30 min)
UPSTREAM_STEPS_SECONDS = 1500


def new_id(name: str) -> str:
    return f"{name}-{int(time.time() * 1000) % 10**9}"


def manifest(tmp_path: Path, run_id: str) -> dict:
    return storage.read_json(tmp_path / "runs" / run_id / filenames.MANIFEST)


def summary_metrics(out: str) -> dict[str, float]:
    line = next(line for line in out.splitlines() if line.startswith("test metrics:"))
    return {k: float(v) for k, v in re.findall(r"(\w+) ([0-9.]+)", line)}


def start(tmp_path: Path, run_id: str, *extra: str) -> subprocess.Popen:
    # The tests send SIGINT as a terminal's Ctrl-C would. Started from a background job (nohup, `&`), the test
    # process inherits SIGINT ignored, and Python would keep ignoring it in the run: the run gets it back.
    return subprocess.Popen([sys.executable, str(ROOT / "pipeline.py"), *flags(tmp_path, run_id, *extra)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(condition, what: str, process: subprocess.Popen | None = None, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {process.communicate()[1][-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


def epochs_on_volume(cluster: Cluster, run_id: str) -> int:
    history = cluster.volume() / "runs" / run_id / "train" / filenames.HISTORY
    try:
        return len(json.loads(history.read_text()))
    except (OSError, ValueError):
        return 0


def running_pods(cluster: Cluster, run_id: str, step: str) -> list[dict]:
    from components.runners.kubernetes.render import run_selector

    return [p for p in cluster.get("pods", run_selector(run_id, step)) if p["status"].get("phase") == "Running"]


def test_the_whole_pipeline_ends_blessed_as_in_process(cluster, tmp_path, capsys):
    run_id = new_id("whole")
    assert run_pipeline(*flags(tmp_path, run_id)) == 0
    out = capsys.readouterr().out
    assert "gate: BLESSED" in out
    assert summary_metrics(out)["accuracy"] >= 0.85
    steps = manifest(tmp_path, run_id)["steps"]
    assert steps["train"]["result"]["strategy"] == "one_device" and steps["push"]["result"]["blessed"]
    pushed = cluster.volume() / "serving" / run_id.replace("-", "_") / "1" / "saved_model.pb"
    assert pushed.is_file()
    lineage = storage.read_json(pushed.parent / filenames.LINEAGE)  # the run's info reached the push pod
    assert lineage["run"]["run_id"] == run_id and lineage["run"]["data_sha256"] == storage.file_sha256(BANK_CSV)


def test_a_validation_failure_has_the_local_runners_exit_code_and_message(cluster, tmp_path, bank_frame):
    bad = bank_frame.copy()
    bad.loc[:50, "month"] = "smarch"  # a month the schema does not know
    data_dir = cluster.volume() / "data"
    data_dir.mkdir(exist_ok=True)
    csv = data_dir / f"bad-{os.getpid()}.csv"
    bad.to_csv(csv, index=False)
    os.chmod(data_dir, 0o755)
    run_id = new_id("anomalies")
    # checked against the curated schema (other data gets an inferred one, which accepts any month)
    code = run_pipeline(*flags(tmp_path, run_id, "--data", f"/artifacts/data/{csv.name}", "--schema",
                               "/app/data/schema.pbtxt"))
    local_code = run_pipeline("--data", str(csv), "--schema", str(BANK_SCHEMA), "--run-id", "local",
                              "--pipeline-root", str(tmp_path / "local"), "--serving-dir", str(tmp_path / "serving"))
    assert code == local_code == 4
    on_cluster = manifest(tmp_path, run_id)["steps"]["validate"]["error"]
    local = storage.read_json(tmp_path / "local" / "local" / filenames.MANIFEST)["steps"]["validate"]["error"]
    # the same message, continuation lines included; only the paths differ (volume vs this machine)
    assert "month:" in local and "smarch" in local and len(local.splitlines()) > 1
    assert re.sub(r"/\S+", "PATH", on_cluster) == re.sub(r"/\S+", "PATH", local)


def test_two_workers_train_under_multi_worker_mirrored_strategy(cluster, tmp_path, capsys):
    run_id = new_id("workers")
    assert run_pipeline(*flags(tmp_path, run_id, "--workers", "2")) == 0
    out = capsys.readouterr().out
    assert "gate: BLESSED" in out and summary_metrics(out)["accuracy"] >= 0.85
    train = manifest(tmp_path, run_id)["steps"]["train"]["result"]
    assert train["strategy"] == "multi_worker" and train["replicas"] == 2 and train["chief"]


def test_a_deleted_train_pod_is_retried_and_resumes_from_its_checkpoint(cluster, tmp_path):
    run_id = new_id("delete")
    process = start(tmp_path, run_id, "--set", "train.checkpoint_secs=0", "--set", "train.patience=50",
                    "--epochs", "40")
    wait_for(lambda: epochs_on_volume(cluster, run_id) >= 3, "3 epochs of training", process)
    pod = running_pods(cluster, run_id, "train")[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", pod, "--wait=false")
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-3000:]
    assert "resuming train from epoch" in err and "gate: BLESSED" in out
    epochs = [e["epoch"] for e in json.loads((cluster.volume() / "runs" / run_id / "train" / filenames.HISTORY)
                                            .read_text())]
    assert epochs == list(range(1, 41))  # no epoch lost, none skipped


def test_losing_one_of_two_workers_recovers_the_run(cluster, tmp_path):
    run_id = new_id("lose")
    process = start(tmp_path, run_id, "--workers", "2", "--set", "train.patience=50", "--epochs", "30")
    wait_for(lambda: epochs_on_volume(cluster, run_id) >= 3, "3 epochs of training", process)
    worker = next(p for p in running_pods(cluster, run_id, "train")
                  if p["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index") == "1")
    cluster.kubectl("delete", "pod", worker["metadata"]["name"], "--wait=false")
    out, err = process.communicate(timeout=1200)
    assert process.returncode == 0, err[-4000:]
    assert "gate: BLESSED" in out and "resuming train from epoch" in err


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 75)])
def test_ctrl_c_and_sigterm_delete_the_runs_jobs_and_pods(cluster, tmp_path, sig, code):
    from components.runners.kubernetes.render import run_selector

    run_id = new_id("cancel")
    # Held in a known state: training that cannot end by itself (no early stop within reach), signalled once
    # its Job exists, so a busy machine cannot let the run finish before the signal.
    process = start(tmp_path, run_id, "--epochs", "100000", "--set", "train.patience=100000")
    wait_for(lambda: cluster.get("jobs", run_selector(run_id, "train")), "the run's train Job", process,
             timeout=UPSTREAM_STEPS_SECONDS)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err[-2000:]
    assert "deleted job/" in err
    wait_for(lambda: not cluster.get("jobs", run_selector(run_id)) and not cluster.get("pods", run_selector(run_id)),
             "the run's Jobs and pods gone", timeout=120)


def test_a_gpu_train_pod_is_scheduled_on_the_gpu_node_with_the_overlays_placement(cluster, tmp_path):
    """The node advertises nvidia.com/gpu as an extended resource (make cluster): the scheduler counts it
    like a real GPU. No GPU runs here, so the test stops the run once the train pod is placed."""
    from components.runners.kubernetes.render import run_selector

    node = json.loads(cluster.kubectl("get", "nodes", "-o", "json", namespaced=False))["items"][0]
    assert node["status"]["allocatable"].get("nvidia.com/gpu") == "1"
    cluster.kubectl("label", "node", node["metadata"]["name"], "nvidia.com/gpu.present=true", "--overwrite",
                    namespaced=False)
    run_id = new_id("gpu")
    # in the cpu overlay's namespace: one node, one volume (a GPU cluster applies the gpu overlay, bankpipe-gpu)
    process = start(tmp_path, run_id, "--gpus-per-worker", "1", "--namespace", NAMESPACE)
    try:
        pod = wait_for(lambda: next((p for p in cluster.get("pods", run_selector(run_id, "train"))
                                     if p["spec"].get("nodeName")), None), "a scheduled train pod", process,
                       timeout=UPSTREAM_STEPS_SECONDS)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["image"].startswith("bankpipe-trainer-gpu:")
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    assert pod["spec"]["nodeName"] == node["metadata"]["name"]


def test_tensorboard_serves_the_runs_scalars_through_port_forward(cluster, tmp_path):
    run_id = new_id("tb")
    assert run_pipeline(*flags(tmp_path, run_id, "--epochs", "3")) in (0, 6)
    cluster.kubectl("rollout", "status", "deployment/bankpipe-tensorboard", "--timeout=120s")
    forward = subprocess.Popen(["kubectl", "--kubeconfig", str(KUBECONFIG), "-n", NAMESPACE, "port-forward",
                                "svc/bankpipe-tensorboard", "16006:6006", "--address", "127.0.0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def tags():
            try:
                with urllib.request.urlopen("http://127.0.0.1:16006/data/plugin/scalars/tags", timeout=10) as r:
                    found = json.loads(r.read())
            except OSError:
                return None
            return {run: t for run, t in found.items() if run.startswith(f"{run_id}/train")} or None

        runs = wait_for(tags, f"TensorBoard's scalars of {run_id}", forward, timeout=180)
    finally:
        forward.terminate()
        forward.wait(timeout=30)
    scalars = {tag for run_tags in runs.values() for tag in run_tags}
    assert {"epoch_loss", "epoch_accuracy"} <= scalars, runs


WRITE_PROBE = """
import errno, sys
for path in sys.argv[1:]:
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError as exc:
        print("REFUSED", path, errno.errorcode[exc.errno])
"""


def test_a_step_can_write_its_own_output_and_nothing_else_on_the_volume(cluster, tmp_path):
    """The validate step's pod as the runner renders it, its command replaced by a probe that writes into
    its own output, another run's folder, the serving folder and the volume's root."""
    from components.runners.kubernetes import render
    from components.steps import validate

    run_id = new_id("readonly")
    own = f"/artifacts/runs/{run_id}/validate"
    settings = render.Settings(cpu_request="100m", memory_request="256Mi")
    job = render.render_step(validate.SPEC, [], settings, run_id, writable=[own])[0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    container.update(command=["python", "-c", WRITE_PROBE], args=[f"{own}/ok.txt", "/artifacts/runs/other.txt",
                                                                     "/artifacts/serving/x.txt", "/artifacts/x.txt"])
    manifest_file = tmp_path / "job.json"
    manifest_file.write_text(json.dumps(job))
    cluster.kubectl("apply", "-f", str(manifest_file))
    name = job["metadata"]["name"]
    cluster.kubectl("wait", "--for=condition=complete", f"job/{name}", "--timeout=180s")
    lines = cluster.kubectl("logs", f"job/{name}").split("\n")
    cluster.kubectl("delete", "job", name, "--wait=false")
    assert f"WROTE {own}/ok.txt" in lines
    for path in ("/artifacts/runs/other.txt", "/artifacts/serving/x.txt", "/artifacts/x.txt"):
        assert f"REFUSED {path} EROFS" in lines, lines
    assert (cluster.volume() / "runs" / run_id / "validate" / "ok.txt").read_text() == "x"


def test_a_deadline_stops_the_step_as_an_infrastructure_failure(cluster, tmp_path):
    run_id = new_id("deadline")
    assert run_pipeline(*flags(tmp_path, run_id, "--job-deadline", "3")) == 75  # validate needs more than 3 s
    steps = manifest(tmp_path, run_id)["steps"]
    assert "ran past its deadline" in steps["validate"]["error"] and steps["split"]["status"] == "pending"


def test_missing_shared_objects_or_operator_are_usage_errors_before_any_job(cluster, tmp_path, capsys):
    from components.runners.kubernetes.render import run_selector

    run_id = new_id("missing")
    # the namespace "default" exists, but the overlay was not applied there: no claim for the artifacts
    assert run_pipeline(*flags(tmp_path, run_id, "--namespace", "default")) == 2
    assert "kubectl apply -k k8s/overlays/cpu" in capsys.readouterr().err
    assert not cluster.get("jobs", run_selector(run_id))
    # no Kubeflow training operator here: a TFJob cannot be created
    assert run_pipeline(*flags(tmp_path, new_id("tfjob"), "--trainer", "tfjob", "--workers", "2",
                               "--set", "train.epochs=1")) == 2
    assert "the Kubeflow training operator (TFJob CRD) is not installed" in capsys.readouterr().err
