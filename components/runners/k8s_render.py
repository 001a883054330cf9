"""Rendering a run's Kubernetes objects from the templates under k8s/ (no cluster needed).

Each component's Job comes from k8s/base/jobs/<step>.yaml with the chosen overlay's Job patches applied
(the same files `kubectl kustomize k8s/overlays/<overlay>` uses), then filled in with the run's name,
labels, image and args. Host paths of the run are mapped to the artifacts volume (see PathMap).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from pathlib import Path, PurePosixPath

import yaml

from components.dag import Step
from components.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "k8s"
ARTIFACTS = PurePosixPath("/artifacts")
APP_DATA = PurePosixPath("/app/data")
LABEL_RUN = "bankpipe.io/run"
LABEL_STEP = "bankpipe.io/step"
ANNOTATION_RUN_ID = "bankpipe.io/run-id"
WORKER_PORT = 2222
ENTRY = "components.runners.k8s_entry"
MAX_WORKERS = 64  # keeps `<job>-<index>` pod hostnames within 63 characters


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the runner's flags decide about the rendered objects."""
    namespace: str = "bankpipe"
    image_registry: str = ""
    image_tag: str = "0.1.0"
    gpus_per_worker: int = 0
    workers: int = 1
    trainer: str = "job"                      # "job" (Indexed Job when workers > 1) or "tfjob"
    backoff_limit: int = 3
    deadline_seconds: int | None = None       # None: each template's own activeDeadlineSeconds
    ttl_seconds: int = 86400
    node_selector: dict | None = None         # None: the gpu overlay's
    tolerations: list | None = None           # None: the gpu overlay's

    @property
    def overlay(self) -> str:
        return "gpu" if self.gpus_per_worker > 0 else "cpu"

    def check(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UsageError(f"--workers {self.workers} is out of range: use 1 to {MAX_WORKERS}.")
        if self.gpus_per_worker < 0:
            raise UsageError(f"--gpus-per-worker {self.gpus_per_worker} is negative: use 0 (CPU) or more.")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", self.namespace):
            raise UsageError(f"--namespace {self.namespace!r} is not a valid namespace name (lower-case "
                             f"letters, digits and '-', at most 63 characters).")
        for flag, value in (("--backoff-limit", self.backoff_limit), ("--job-ttl", self.ttl_seconds)):
            if value < 0:
                raise UsageError(f"{flag} {value} is negative: use 0 or more.")
        if self.deadline_seconds is not None and self.deadline_seconds < 1:
            raise UsageError(f"--job-deadline {self.deadline_seconds} must be at least 1 second.")


def run_key(run_id: str) -> str:
    """The run id as a label value and name part: lower-case DNS label, at most 40 characters."""
    key = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    if key != run_id or len(key) > 40:  # a changed or shortened id gets a hash, so two ids never collide
        key = f"{key[:31].strip('-')}-{hashlib.sha1(run_id.encode()).hexdigest()[:8]}".strip("-")
    return key


def job_name(run_id: str, step: str) -> str:
    return f"bp-{run_key(run_id)}-{step}"


def run_selector(run_id: str, step: str | None = None) -> str:
    selector = f"{LABEL_RUN}={run_key(run_id)}"
    return f"{selector},{LABEL_STEP}={step}" if step else selector


@dataclasses.dataclass(frozen=True)
class PathMap:
    """Host paths of a run -> the paths its pods see: the PVC at /artifacts, the data baked into images.

    Paths already under /artifacts or /app are taken as in-cluster paths as they are.
    """
    pipeline_root: Path
    serving_dir: Path
    data_dir: Path = ROOT / "data"

    def to_cluster(self, path: Path | None, flag: str) -> str | None:
        if path is None:
            return None
        path = Path(path)
        for host, cluster in ((self.pipeline_root, ARTIFACTS / "runs"), (self.serving_dir, ARTIFACTS / "serving"),
                              (self.data_dir, APP_DATA)):
            if path == host or host in path.parents:
                return str(cluster / path.relative_to(host).as_posix())
        if path.parts[:2] in (("/", "artifacts"), ("/", "app")):
            return path.as_posix()
        raise UsageError(f"{flag} {path} is not on the cluster: with --runner=kubernetes use the data baked "
                         f"into the images (the default) or copy the file onto the artifacts volume and pass "
                         f"its path there, e.g. {flag} /artifacts/data/{path.name}.")


def strategic_merge(base, patch):
    """kustomize's strategic merge for what our patches use: maps merge, lists of named items merge by
    name (containers, env, volumes), any other list replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and all(
            isinstance(item, dict) and "name" in item for item in base + patch):
        merged = [copy.deepcopy(item) for item in base]
        for item in patch:
            names = [m["name"] for m in merged]
            if item["name"] in names:
                merged[names.index(item["name"])] = strategic_merge(merged[names.index(item["name"])], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def load_template(step: str, overlay: str, k8s_dir: Path = K8S_DIR) -> dict:
    """The step's Job template with the overlay's Job patches (by target name) applied."""
    template = yaml.safe_load((k8s_dir / "base" / "jobs" / f"{step}.yaml").read_text())
    overlay_dir = k8s_dir / "overlays" / overlay
    kustomization = yaml.safe_load((overlay_dir / "kustomization.yaml").read_text())
    for patch in kustomization.get("patches", []):
        target = patch.get("target", {})
        if target.get("kind") == "Job" and target.get("name") == template["metadata"]["name"]:
            template = strategic_merge(template, yaml.safe_load((overlay_dir / patch["path"]).read_text()))
    return template


def image(settings: Settings, step: Step) -> str:
    name = f"bankpipe-{step.image}" + ("-gpu" if step.name == "train" and settings.gpus_per_worker else "")
    registry = settings.image_registry.rstrip("/")
    return f"{registry}/{name}:{settings.image_tag}" if registry else f"{name}:{settings.image_tag}"


def labels(run_id: str, step: str) -> dict:
    return {"app.kubernetes.io/name": "bankpipe", "app.kubernetes.io/component": step,
            "app.kubernetes.io/part-of": "bankpipe", LABEL_RUN: run_key(run_id), LABEL_STEP: step}


def _main_container(pod_spec: dict) -> dict:
    return next(c for c in pod_spec["containers"] if c["name"] == "main")


def _fill_pod(pod_spec: dict, step: Step, settings: Settings, args: list[str]) -> None:
    container = _main_container(pod_spec)
    container["image"] = image(settings, step)
    container["args"] = args
    if step.name == "train" and settings.gpus_per_worker:
        for kind in ("requests", "limits"):
            container["resources"].setdefault(kind, {})["nvidia.com/gpu"] = settings.gpus_per_worker
        if settings.node_selector is not None:
            pod_spec["nodeSelector"] = dict(settings.node_selector)
        if settings.tolerations is not None:
            pod_spec["tolerations"] = [dict(t) for t in settings.tolerations]


def render_job(step: Step, args: list[str], settings: Settings, run_id: str) -> dict:
    job = load_template(step.name, settings.overlay)
    name = job_name(run_id, step.name)
    job["metadata"] = {"name": name, "namespace": settings.namespace, "labels": labels(run_id, step.name),
                       "annotations": {ANNOTATION_RUN_ID: run_id}}
    spec = job["spec"]
    spec.pop("suspend", None)
    spec["backoffLimit"] = settings.backoff_limit
    spec["ttlSecondsAfterFinished"] = settings.ttl_seconds
    if settings.deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = settings.deadline_seconds
    spec["template"]["metadata"] = {"labels": labels(run_id, step.name),
                                    "annotations": {ANNOTATION_RUN_ID: run_id}}
    _fill_pod(spec["template"]["spec"], step, settings, args)
    if step.name == "train" and settings.workers > 1:
        # Indexed: pod i gets JOB_COMPLETION_INDEX=i and the hostname <job>-<i>; the headless Service
        # named like the Job (the pods' subdomain) makes <job>-<i>.<job> resolvable by the other pods.
        spec.update(completionMode="Indexed", completions=settings.workers, parallelism=settings.workers)
        spec["template"]["spec"]["subdomain"] = name
    return job


def render_worker_service(run_id: str, settings: Settings) -> dict:
    name = job_name(run_id, "train")
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": settings.namespace, "labels": labels(run_id, "train"),
                         "annotations": {ANNOTATION_RUN_ID: run_id}},
            "spec": {"clusterIP": "None", "selector": {LABEL_RUN: run_key(run_id), LABEL_STEP: "train"},
                     # workers must find each other while they start, before anything is "ready"
                     "publishNotReadyAddresses": True,
                     "ports": [{"name": "grpc", "port": WORKER_PORT, "targetPort": WORKER_PORT}]}}


def worker_entry_args(run_id: str, settings: Settings) -> list[str]:
    """The k8s_entry options from which each train pod derives its TF_CONFIG."""
    if settings.workers <= 1 or settings.trainer == "tfjob":
        return []  # one worker needs no TF_CONFIG; the training operator writes its own
    name = job_name(run_id, "train")
    return ["--workers", str(settings.workers), "--worker-job", name, "--worker-service", name,
            "--worker-port", str(WORKER_PORT)]


def render_step(step: Step, args: list[str], settings: Settings, run_id: str) -> list[dict]:
    """Every object one step needs, in the order to create them."""
    if step.name == "train" and settings.trainer == "tfjob":
        from components.runners.k8s_tfjob import render_tfjob

        return [render_tfjob(render_job(step, args, settings, run_id), settings)]
    if step.name == "train" and settings.workers > 1:
        return [render_worker_service(run_id, settings), render_job(step, args, settings, run_id)]
    return [render_job(step, args, settings, run_id)]


def file_name(obj: dict) -> str:
    return f"{obj['metadata']['name']}.{obj['kind'].lower()}.yaml"


def write_manifests(objects: list[dict], directory: Path) -> list[Path]:
    """One YAML file per object; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for obj in objects:
        path = directory / file_name(obj)
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written
