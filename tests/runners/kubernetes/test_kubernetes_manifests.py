"""Every manifest of a run, rendered by the runner (--dry-run) and by kustomize from k8s/overlays/*, validated
offline against the Kubernetes OpenAPI schemas (kubernetes-validate --strict), plus what schemas miss."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes.utils import parse_quantity

from components.orchestration.dag import PIPELINE
from components.runners.kubernetes import render, tfjob
from tests.helpers import ROOT, run_pipeline

# podFailurePolicy is GA since 1.31; 1.33 is a current release. Both are bundled with kubernetes-validate.
K8S_VERSIONS = ("1.31.0", "1.33.0")
KUBECTL = shutil.which("kubectl")
CASES = {"cpu-1": [], "cpu-4": ["--workers", "4"], "gpu-1": ["--gpus-per-worker", "1"],
         "gpu-4": ["--gpus-per-worker", "2", "--workers", "4", "--image-registry", "registry.example:5000/ml"],
         "tfjob-4": ["--trainer", "tfjob", "--workers", "4", "--gpus-per-worker", "1"],
         "small-node": ["--workers", "2", "--cpu-request", "250m", "--memory-request", "8Gi"]}


def dry_run(tmp_path: Path, *flags: str) -> Path:
    out = tmp_path / "manifests"
    assert run_pipeline("--runner=kubernetes", "--dry-run", "--manifests-dir", str(out), "--run-id", "Run_1",
                        "--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
                        *flags) == 0
    return out


def kustomize(overlay: str) -> list[dict]:
    if KUBECTL is None:
        message = "kubectl (with its built-in kustomize) is not installed; see the README's Kubernetes section"
        if os.environ.get("CI"):  # CI's machine image ships kubectl: its absence there is a broken machine
            pytest.fail(message)
        pytest.skip(message)
    text = subprocess.run([KUBECTL, "kustomize", str(ROOT / "k8s" / "overlays" / overlay)], check=True,
                          capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate_files(paths: list[Path]) -> None:
    """The real CLI, as the issue asks: every file, strict, at each Kubernetes version."""
    for version in K8S_VERSIONS:
        done = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", "-k", version,
                               *map(str, paths)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def validate_object(obj: dict) -> None:
    for version in K8S_VERSIONS:
        if obj["kind"] == "TFJob":  # a custom resource: no bundled schema; its pod templates are core objects
            for template in tfjob.pod_templates(obj).values():
                kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"},
                                              "template": template}, version, strict=True)
        else:
            kubernetes_validate.validate(obj, version, strict=True)


def through_client_models(obj: dict) -> None:
    """The kubernetes client's own models take the object unchanged: what the client would submit is what
    was rendered (a GPU count written as a number instead of a quantity string fails here)."""
    from kubernetes import client

    api = client.ApiClient()
    objs = [{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}, "template": t}
            for t in tfjob.pod_templates(obj).values()] if obj["kind"] == "TFJob" else [obj]
    for item in objs:
        model = api._ApiClient__deserialize(item, f"V1{item['kind']}")  # the client's deserializer, by type
        assert api.sanitize_for_serialization(model) == item, f"{item['kind']} changes through the client's models"


def pod_specs(obj: dict) -> list[dict]:
    if obj["kind"] in ("Job", "Deployment"):
        return [obj["spec"]["template"]["spec"]]
    if obj["kind"] == "TFJob":
        return [t["spec"] for t in tfjob.pod_templates(obj).values()]
    return []


def check_beyond_schema(obj: dict) -> None:
    """What the OpenAPI schemas cannot say: restart policies, quantities, non-root with limits everywhere."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "bankpipe", name
    if obj["kind"] == "Job":
        spec = obj["spec"]
        assert spec["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure"), name
        assert spec["template"]["spec"]["restartPolicy"] == "Never", f"{name}: podFailurePolicy needs Never"
        assert {"backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"} <= spec.keys(), name
        rules = spec["podFailurePolicy"]["rules"]
        assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [1, 2, 3, 4, 5, 6]
        assert 75 not in rules[1]["onExitCodes"]["values"], "infrastructure failures must be retried"
    for pod in pod_specs(obj):
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, name
        for container in pod.get("initContainers", []) + pod["containers"]:
            whole = [m for m in container.get("volumeMounts", []) if m["name"] == "artifacts" and "subPath" not in m]
            assert all(m.get("readOnly") for m in whole), f"{name}: the whole artifacts volume mounted read-write"
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod.get("initContainers", []) + pod["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True and security["capabilities"]["drop"] == ["ALL"], name
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            assert {"cpu", "memory"} <= requests.keys() and {"cpu", "memory"} <= limits.keys(), name
            for key, limit in limits.items():
                assert parse_quantity(requests.get(key, limit)) <= parse_quantity(limit), f"{name}: {key}"
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{name}: a read-only root filesystem needs a writable /tmp"


@pytest.mark.parametrize("case", sorted(CASES))
def test_dry_run_writes_valid_manifests_one_object_per_file(tmp_path, case):
    out = dry_run(tmp_path, *CASES[case])
    files = sorted(out.glob("*.yaml"))
    objects = [yaml.safe_load(p.read_text()) for p in files]
    flags = CASES[case]
    workers = int(flags[flags.index("--workers") + 1]) if "--workers" in flags else 1
    kinds = sorted(o["kind"] for o in objects)
    if case.startswith("tfjob"):
        assert kinds == ["Job"] * 4 + ["TFJob"]
    else:
        assert kinds == ["Job"] * 5 + (["Service"] if workers > 1 else [])
        validate_files(files)
    for obj in objects:
        validate_object(obj)
        check_beyond_schema(obj)
        through_client_models(obj)
        assert obj["metadata"]["labels"][render.LABEL_RUN] == render.run_key("Run_1")
        assert obj["metadata"]["annotations"][render.ANNOTATION_RUN_ID] == "Run_1"
    train = next(o for o in objects if o["metadata"]["labels"][render.LABEL_STEP] == "train"
                 and o["kind"] != "Service")
    pod = pod_specs(train)[0]
    gpus = int(pod["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", "0"))
    assert gpus == (2 if case == "gpu-4" else 1 if "gpu" in " ".join(CASES[case]) else 0)
    assert pod["containers"][0]["image"].split("/")[-1].startswith("bankpipe-trainer-gpu:" if gpus else
                                                                   "bankpipe-trainer:")
    if case == "small-node":  # every step's requests as asked; a limit below a request raised to it
        for obj in objects:
            for spec in pod_specs(obj):
                resources = spec["containers"][0]["resources"]
                assert resources["requests"] == {"cpu": "250m", "memory": "8Gi"}
                assert resources["limits"]["memory"] == "8Gi"  # every template's limit is below 8Gi
                assert parse_quantity(resources["limits"]["cpu"]) >= 1  # above 250m: kept
    if case == "gpu-4":
        assert pod["containers"][0]["image"] == "registry.example:5000/ml/bankpipe-trainer-gpu:0.1.0"
        assert train["spec"]["completionMode"] == "Indexed" and pod["subdomain"] == train["metadata"]["name"]


def test_tfjob_has_the_operators_shape(tmp_path):
    objects = [yaml.safe_load(p.read_text()) for p in dry_run(tmp_path, *CASES["tfjob-4"]).glob("*.tfjob.yaml")]
    (job,) = objects
    assert job["apiVersion"] == "kubeflow.org/v1" and set(job["spec"]) == {"runPolicy", "tfReplicaSpecs"}
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4 and worker["restartPolicy"] == "ExitCode"
    container = worker["template"]["spec"]["containers"][0]
    assert container["name"] == "tensorflow" and container["ports"][0]["name"] == "tfjob-port"
    assert "--workers" not in container["args"]  # the operator writes TF_CONFIG, not kubernetes.entry


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_kustomize_output_is_valid(tmp_path, overlay):
    objects = kustomize(overlay)
    assert {o["kind"] for o in objects} == {"Namespace", "PersistentVolumeClaim", "ConfigMap", "ServiceAccount",
                                            "Role", "RoleBinding", "Deployment", "Service", "Job", "NetworkPolicy"}
    files = render.write_manifests(objects, tmp_path / overlay)
    validate_files(files)
    for obj in objects:
        check_beyond_schema(obj)
        through_client_models(obj)
        if obj["kind"] == "Job":
            assert obj["spec"]["suspend"] is True  # templates: applying an overlay runs nothing
    pvc = next(o for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == (["ReadWriteMany"] if overlay == "gpu" else ["ReadWriteOnce"])


@pytest.mark.parametrize("overlay, flags", [("cpu", []), ("gpu", ["--gpus-per-worker", "1"])])
def test_runner_renders_the_same_pods_as_kustomize(tmp_path, overlay, flags):
    """The runner's own patching of the templates (render.strategic_merge) agrees with kustomize."""
    by_step = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in kustomize(overlay)
               if o["kind"] == "Job"}
    out = dry_run(tmp_path, *flags)
    for step in PIPELINE:
        ours = yaml.safe_load((out / f"{render.job_name('Run_1', step.name)}.job.yaml").read_text())
        theirs = by_step[step.name]
        for pod in (ours["spec"]["template"]["spec"], theirs["spec"]["template"]["spec"]):
            pod["containers"][0].pop("args")
        mounts = ours["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        own = [m for m in mounts if "subPath" in m]  # the runner adds the step's writable sub-paths
        ours["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [m for m in mounts if m not in own]
        assert ours["spec"]["template"]["spec"] == theirs["spec"]["template"]["spec"], step.name
        expected = [f"runs/Run_1/{step.name}"] + (["serving/bank"] if step.outputs else [])
        assert [m["subPath"] for m in own] == expected and all(m["mountPath"] == f"/artifacts/{m['subPath']}"
                                                               for m in own)
        assert ours["spec"]["podFailurePolicy"] == theirs["spec"]["podFailurePolicy"]


def test_configured_gpu_placement_replaces_the_overlays(tmp_path):
    out = dry_run(tmp_path, "--gpus-per-worker", "1", "--gpu-node-selector", "pool=a100",
                  "--gpu-toleration", "dedicated=ml:NoSchedule")
    job = yaml.safe_load((out / f"{render.job_name('Run_1', 'train')}.job.yaml").read_text())
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
    validate_object({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"},
                     "template": {"spec": pod}})


def test_default_pipeline_objects_need_no_more_rbac_than_the_role_grants():
    role = next(d for d in yaml.safe_load_all((ROOT / "k8s" / "base" / "rbac.yaml").read_text())
                if d["kind"] == "Role")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    used = {("batch", "jobs", v) for v in ("create", "get", "list", "delete")} | {
        ("", "pods", "list"), ("", "pods/log", "get"), ("", "services", "create"), ("", "services", "list"),
        ("", "services", "delete"), ("", "persistentvolumeclaims", "get")}
    assert used - granted == set()
    assert not any("*" in (g, r, v) for g, r, v in granted)


@pytest.mark.parametrize("run_id, key", [("20261126-064152", "20261126-064152"), ("Run_1", None),
                                         ("a" * 100, None)])
def test_run_keys_are_dns_labels_and_distinct(run_id, key):
    made = render.run_key(run_id)
    assert made == key if key else made != run_id.lower()
    assert len(render.job_name(run_id, "evaluate") + "-63") <= 63
    assert render.run_key("Run_1") != render.run_key("run-1")


def test_host_paths_map_to_the_volume_and_the_images(tmp_path):
    paths = render.cluster_paths(tmp_path / "runs", tmp_path / "serving")
    assert paths.to_target(tmp_path / "runs" / "r" / "split", "--x") == "/artifacts/runs/r/split"
    assert paths.to_target(tmp_path / "serving", "--x") == "/artifacts/serving"
    assert paths.to_target(ROOT / "data" / "schema.pbtxt", "--schema") == "/app/data/schema.pbtxt"
    assert paths.to_target(Path("/artifacts/data/new.csv"), "--data") == "/artifacts/data/new.csv"
    assert paths.to_target(None, "--schema") is None


def selects(selector: dict, labels: dict) -> bool:
    """A label selector's matchLabels against a pod's labels (the policies use nothing else)."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_network_policies_deny_everything_but_the_workers_collectives_and_dns(tmp_path):
    policies = [o for o in kustomize("cpu") if o["kind"] == "NetworkPolicy"]
    deny = next(p for p in policies if p["spec"]["podSelector"] == {})
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]  # nothing allowed by default
    pods = {o["metadata"]["labels"][render.LABEL_STEP]: o["spec"]["template"]["metadata"]["labels"]
            for o in map(lambda f: yaml.safe_load(f.read_text()), dry_run(tmp_path, "--workers",
                                                                          "2").glob("*.job.yaml"))}
    allowing = {step: [p["metadata"]["name"] for p in policies if p is not deny
                       and selects(p["spec"]["podSelector"], labels)] for step, labels in pods.items()}
    assert allowing == {"validate": [], "split": [], "train": ["bankpipe-train-workers"], "evaluate": [], "push": []}
    workers = next(p for p in policies if p["metadata"]["name"] == "bankpipe-train-workers")["spec"]
    assert all(selects(rule["from"][0]["podSelector"], pods["train"]) for rule in workers["ingress"])
    assert [port["port"] for rule in workers["ingress"] for port in rule["ports"]] == [render.WORKER_PORT]
    egress_ports = sorted((port["protocol"], port["port"]) for rule in workers["egress"] for port in rule["ports"])
    assert egress_ports == [("TCP", 53), ("TCP", render.WORKER_PORT), ("UDP", 53)]
    tensorboard = next(o for o in kustomize("cpu") if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    args = tensorboard["containers"][0]["args"]
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert not any(selects(p["spec"]["podSelector"], {"app.kubernetes.io/name": "bankpipe-tensorboard"})
                   for p in policies if p is not deny)  # no ingress to TensorBoard but port-forward


def test_pods_get_cluster_paths_and_leave_lookups_to_the_pod(tmp_path):
    """The embedded data in the image, run folders on the volume; the deployed model and the previous
    statistics are found by the pod (kubernetes.entry), which searches the volume's folders."""
    out = dry_run(tmp_path)
    args = {step.name: yaml.safe_load((out / f"{render.job_name('Run_1', step.name)}.job.yaml").read_text())[
        "spec"]["template"]["spec"]["containers"][0]["args"] for step in PIPELINE}
    assert args["validate"][:10] == [render.ENTRY, "--pipeline-root", "/artifacts/runs", "--serving-dir",
                                     "/artifacts/serving", "--run-id", "Run_1", "--model-name", "bank",
                                     "components.steps.validate"]
    assert args["validate"][args["validate"].index("--data") + 1] == "/app/data/bank.csv"
    assert args["validate"][args["validate"].index("--output") + 1] == "/artifacts/runs/Run_1/validate"
    assert "--previous-statistics" not in args["validate"] and "--baseline-model" not in args["evaluate"]
    assert args["push"][args["push"].index("--serving-dir", 10) + 1] == "/artifacts/serving"
